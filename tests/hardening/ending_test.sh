#!/usr/bin/env bash
# nettrace ends promptly with status 0 on `| head -1`, SIGINT, SIGTERM and
# --duration, and after each (and after SIGKILL) none of its BPF programs or
# links stays attached.
source "$(dirname "$0")/lib.sh"
need_root

# Our programs are named <backend>_<kernel function> (STYLE.md). bpftool on
# Debian is built without pid iterators, so "ours" means: one of those names,
# and not loaded before this nettrace started.
# The backend names come from nettrace itself (its --help lists the table).
backend_names=$("$BIN/nettrace" --help | sed -n 's/^ *--backend NAME *auto|\([a-z|]*\) .*/\1/p')
[[ -n "$backend_names" ]] || fail "cannot read the backend names from nettrace --help"
our_prog_ids() {
  bpftool prog show 2>/dev/null | awk -v re="^(${backend_names})_" '/^[0-9]+:/ && $4 ~ re { sub(":", "", $1); print $1 }' | sort
}
# Links whose program is one of the given ids.
link_ids_for() {
  local progs=" $* "
  bpftool link show 2>/dev/null | awk -v progs="$progs" '
    /^[0-9]+:/ { id = $1; sub(":", "", id); for (i = 1; i < NF; i++) if ($i == "prog" && index(progs, " " $(i+1) " ")) print id }'
}

assert_released() {
  local what=$1 progs=$2 links=$3
  local id
  for _ in $(seq 1 50); do
    local left=0
    for id in $progs; do bpftool prog show id "$id" >/dev/null 2>&1 && left=1; done
    for id in $links; do bpftool link show id "$id" >/dev/null 2>&1 && left=1; done
    [[ $left -eq 0 ]] && return 0
    sleep 0.1
  done
  fail "$what: BPF programs/links still loaded after nettrace ended (progs: $progs links: $links)"
}

check_mode() {
  local mode=$1
  local out=$T/$mode.out
  local before
  before=$(our_prog_ids)
  start_nettrace "$out" $([[ $mode == duration ]] && echo "-d 2")
  local progs links
  progs=$(comm -13 <(echo "$before") <(our_prog_ids) | tr '\n' ' ')
  links=$(link_ids_for $progs)
  [[ -n "$progs" ]] || fail "$mode: bpftool shows no program of nettrace's loaded (pid $NT_PID)"
  [[ -n "$links" ]] || fail "$mode: bpftool shows no link to nettrace's programs"
  local start=$SECONDS rc=0
  case $mode in
    sigint) kill -INT "$NT_PID"; wait "$NT_PID" || rc=$? ;;
    sigterm) kill -TERM "$NT_PID"; wait "$NT_PID" || rc=$? ;;
    duration) wait "$NT_PID" || rc=$? ;;
    sigkill) kill -KILL "$NT_PID"; wait "$NT_PID" || true ;;
  esac
  local took=$((SECONDS - start))
  [[ $mode == sigkill || $rc -eq 0 ]] || fail "$mode: nettrace exited $rc (want 0)"
  [[ $took -le 5 ]] || fail "$mode: nettrace took ${took}s to end"
  assert_released "$mode" "$progs" "$links"
  pass "$mode: ended in ${took}s, status $rc, $(wc -w <<<"$progs") programs released"
}

for mode in sigint sigterm duration sigkill; do check_mode "$mode"; done

# `nettrace | head -1`: head exits after the first line; nettrace must notice
# the closed pipe (EPIPE), stop and exit 0. Traffic on loopback provides lines.
port=$(free_port)
"$BIN/workload" serve --listen 127.0.0.1:$port --comm nt-end-srv --count 1000 >"$T/srv.log" &
srv=$!; NT_BG_PIDS+=("$srv")
wait_ready_line "$T/srv.log" "$srv"
ready=$T/ready.head
( "$BIN/nettrace" --ready-file "$ready" --port "$port" 2>"$T/head.err" | head -1 >"$T/head.out"
  echo "${PIPESTATUS[0]}" >"$T/head.rc" ) &
pipeline=$!
for _ in $(seq 1 200); do [[ -e "$ready" ]] && break; sleep 0.05; done
[[ -e "$ready" ]] || fail "head: nettrace did not become ready: $(cat "$T/head.err")"
start=$SECONDS
# Keep connecting until the pipeline has ended (the first line makes head exit).
for _ in $(seq 1 50); do
  "$BIN/workload" connect --to 127.0.0.1:$port --comm nt-end-cli --count 1 >/dev/null 2>&1 || true
  kill -0 "$pipeline" 2>/dev/null || break
  sleep 0.1
done
wait "$pipeline" || true
took=$((SECONDS - start))
[[ -s "$T/head.out" ]] || fail "head: no line reached head"
rc=$(cat "$T/head.rc")
[[ "$rc" == 0 ]] || fail "head: nettrace exited $rc after its stdout closed (want 0): $(cat "$T/head.err")"
[[ $took -le 6 ]] || fail "head: the pipeline took ${took}s to end"
pass "head -1: nettrace exited 0 within ${took}s of the pipe closing"

# A quiet host: a filter that matches nothing, so no event ever comes to fail
# a write. The reader closes (at once, or after nettrace is attached); nettrace
# must notice the closed pipe by itself (EPOLLERR on stdout) and exit 0 within
# a drain interval, not run on until the next event.
quiet_reader() {
  local name=$1; shift
  local fifo=$T/quiet.$name ready=$T/ready.quiet.$name
  mkfifo "$fifo"
  "$BIN/nettrace" --ready-file "$ready" --comm "nt-none-$$" --port "$(free_port)" \
    >"$fifo" 2>"$T/quiet.$name.err" &
  local nt=$!; NT_BG_PIDS+=("$nt")
  "$@" <"$fifo" &
  local reader=$!
  wait "$reader" || true
  local closed_at=$(date +%s%N) rc=0 ended=0
  for _ in $(seq 1 50); do
    kill -0 "$nt" 2>/dev/null || { ended=1; break; }
    sleep 0.1
  done
  [[ $ended -eq 1 ]] || { kill -KILL "$nt"; fail "quiet $name: nettrace still running 5 s after its reader closed stdout: $(cat "$T/quiet.$name.err")"; }
  wait "$nt" || rc=$?
  local took_ms=$(( ($(date +%s%N) - closed_at) / 1000000 ))
  [[ $rc -eq 0 ]] || fail "quiet $name: nettrace exited $rc after its reader closed (want 0): $(cat "$T/quiet.$name.err")"
  # Noticing takes one drain interval (10 ms); the rest is detaching.
  [[ $took_ms -le 2000 ]] || fail "quiet $name: nettrace took ${took_ms} ms to end after its reader closed"
  pass "quiet $name: nettrace saw the closed pipe with no event and exited 0 within ${took_ms} ms"
}
quiet_reader at-once true
# Attached first, then the reader goes away.
quiet_reader after-attach bash -c 'for _ in $(seq 1 200); do [[ -e $0 ]] && break; sleep 0.05; done; sleep 0.3' "$T/ready.quiet.after-attach"
