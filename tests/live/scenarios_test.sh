#!/usr/bin/env bash
# Live scenarios of issue 3, for every backend that loads on this kernel: real
# connects and accepts by test processes with known pid and name, and nettrace's
# exact lines for those pids compared with what the processes saw themselves
# (getsockname/getpeername): nothing missing, nothing extra.
#
#   scenarios_test.sh BUILD_BIN_DIR [BACKEND...]
source "$(dirname "$0")/../hardening/lib.sh"
need_root
shift
W=$BIN/workload

backends=("$@")
if [[ ${#backends[@]} -eq 0 ]]; then
  mapfile -t backends < <("$BIN/nettrace" --info | awk '$2 == "loads+attaches" { print $1 }')
fi
[[ ${#backends[@]} -gt 0 ]] || fail "no backend loads here: $("$BIN/nettrace" --info)"

# Expected arrow lines from workload -v output: "conn TID LOCAL REMOTE" and
# "accepted LOCAL REMOTE"; $2 is the pid, $3 the name.
expected_lines() {
  awk -v pid="$2" -v comm="$3" '
    $1 == "conn"     { print $4 "<-" $3 "|PID=" pid " CMD=" comm }
    $1 == "accepted" { print $3 "->" $2 "|PID=" pid " CMD=" comm }' "$1"
}

# Compares nettrace's lines for the given pids with the expected ones.
check_lines() {
  local what=$1 trace=$2 expect=$3; shift 3
  local pattern
  pattern=$(printf '|PID=%s CMD=\\|' "$@")
  pattern=${pattern%\\|}
  grep -v '^#' "$trace" | grep -e "$pattern" | sort >"$T/got" || true
  sort "$expect" >"$T/want"
  [[ -s "$T/want" ]] || fail "$what: the workload reported no connection"
  if ! cmp -s "$T/got" "$T/want"; then
    echo "--- expected (from the test processes)  +++ nettrace" >&2
    diff "$T/want" "$T/got" >&2 || true
    fail "$what: nettrace's lines differ from what the processes saw"
  fi
}

# Runs a workload pair under nettrace and checks the exact lines.
#   pair NAME BACKEND LISTEN TO [connect args...]
pair() {
  local what=$1 backend=$2 listen=$3 to=$4; shift 4
  local port=${listen##*:}
  start_nettrace "$T/$what.trace" --backend "$backend" --port "$port"
  "$W" serve --listen "$listen" --comm nt-srv-$what --count 0 -v >"$T/$what.srv" &
  local srv=$!; NT_BG_PIDS+=("$srv")
  wait_ready_line "$T/$what.srv" "$srv"
  "$W" connect --to "$to" --comm nt-cli-$what -v "$@" >"$T/$what.cli" || fail "$what: connect failed"
  local cli_pid
  cli_pid=$(awk '$1 == "pid" { print $2 }' "$T/$what.cli")
  local want
  want=$(grep -c '^conn' "$T/$what.cli")
  for _ in $(seq 1 100); do [[ $(grep -c '^accepted' "$T/$what.srv") -ge $want ]] && break; sleep 0.02; done
  kill "$srv"; wait "$srv" 2>/dev/null || true
  sleep 0.2
  stop_nettrace
  local srv_pid
  srv_pid=$(awk '$1 == "pid" { print $2 }' "$T/$what.srv")
  { expected_lines "$T/$what.cli" "$cli_pid" "nt-cli-$what"; expected_lines "$T/$what.srv" "$srv_pid" "nt-srv-$what"; } >"$T/$what.want"
  check_lines "$backend/$what" "$T/$what.trace" "$T/$what.want" "$cli_pid" "$srv_pid"
  pass "$backend/$what: $(wc -l <"$T/$what.want") exact lines"
}

for b in "${backends[@]}"; do
  # Fresh files per backend: a stale "ready" or line must never count.
  rm -f "$T"/*.srv "$T"/*.cli "$T"/*.trace "$T"/*.json "$T"/*.want
  p=$(free_port); pair ipv4 "$b" 127.0.0.1:$p 127.0.0.1:$p --count 3
  p=$(free_port); pair ipv6 "$b" "[::1]:$p" "[::1]:$p" --count 3
  p=$(free_port); pair threads "$b" 127.0.0.1:$p 127.0.0.1:$p --count 4 --threads 8
  # Threads: every connect carries the tid of the thread that made it.
  p=$(free_port)
  start_nettrace "$T/tid.json" --backend "$b" --port "$p" --format json
  "$W" serve --listen 127.0.0.1:$p --comm nt-srv-tid --count 0 >"$T/tid.srv" &
  srv=$!; NT_BG_PIDS+=("$srv")
  wait_ready_line "$T/tid.srv" "$srv"
  "$W" connect --to 127.0.0.1:$p --comm nt-cli-tid -v --count 2 --threads 8 >"$T/tid.cli" || fail "tid: connect failed"
  sleep 0.2; kill "$srv"; stop_nettrace
  awk '$1 == "conn" { print $2 }' "$T/tid.cli" | sort >"$T/tid.want"
  grep '"type":"connect"' "$T/tid.json" | grep -o '"tid":[0-9]*' | cut -d: -f2 | sort >"$T/tid.got"
  cmp -s "$T/tid.want" "$T/tid.got" || { diff "$T/tid.want" "$T/tid.got" >&2; fail "$b/tid: thread ids differ"; }
  [[ $(sort -u "$T/tid.want" | wc -l) -eq 8 ]] || fail "$b/tid: expected 8 distinct threads"
  pass "$b/tid: 16 connects from 8 threads, each with its own tid"

  # An accept() already blocked before the tracer started.
  p=$(free_port)
  "$W" serve --listen 127.0.0.1:$p --comm nt-srv-blk --count 1 -v >"$T/blk.srv" &
  srv=$!; NT_BG_PIDS+=("$srv")
  wait_ready_line "$T/blk.srv" "$srv"
  sleep 0.2  # it is in accept() now
  start_nettrace "$T/blk.trace" --backend "$b" --port "$p"
  "$W" connect --to 127.0.0.1:$p --comm nt-cli-blk -v >"$T/blk.cli" || fail "blocked: connect failed"
  wait "$srv" || fail "blocked: serve failed"
  sleep 0.2; stop_nettrace
  { expected_lines "$T/blk.cli" "$(awk '$1=="pid"{print $2}' "$T/blk.cli")" nt-cli-blk
    expected_lines "$T/blk.srv" "$srv" nt-srv-blk; } >"$T/blk.want"
  check_lines "$b/blocked-accept" "$T/blk.trace" "$T/blk.want" "$(awk '$1=="pid"{print $2}' "$T/blk.cli")" "$srv"
  pass "$b/blocked-accept: the accept blocked before attach is reported"

  # Several processes accepting on one SO_REUSEPORT port.
  p=$(free_port)
  start_nettrace "$T/rp.trace" --backend "$b" --port "$p"
  rp_pids=()
  for i in 1 2 3; do
    "$W" serve --listen 127.0.0.1:$p --comm nt-srv-rp$i --count 0 --reuseport -v >"$T/rp$i.srv" &
    rp_pids+=($!); NT_BG_PIDS+=($!)
    wait_ready_line "$T/rp$i.srv" "$!"
  done
  "$W" connect --to 127.0.0.1:$p --comm nt-cli-rp -v --count 30 >"$T/rp.cli" || fail "reuseport: connect failed"
  for _ in $(seq 1 100); do [[ $(cat "$T"/rp?.srv | grep -c '^accepted') -ge 30 ]] && break; sleep 0.02; done
  kill "${rp_pids[@]}"; sleep 0.2; stop_nettrace
  cli_pid=$(awk '$1=="pid"{print $2}' "$T/rp.cli")
  { expected_lines "$T/rp.cli" "$cli_pid" nt-cli-rp
    for i in 1 2 3; do expected_lines "$T/rp$i.srv" "${rp_pids[$((i-1))]}" nt-srv-rp$i; done; } >"$T/rp.want"
  check_lines "$b/reuseport" "$T/rp.trace" "$T/rp.want" "$cli_pid" "${rp_pids[@]}"
  pass "$b/reuseport: 30 connects, accepts attributed to $(cat "$T"/rp?.srv | grep '^accepted' | wc -l) accepts over 3 processes"

  # A refused connect: not a connection in arrow output; failed in JSON.
  p=$(free_port)
  start_nettrace "$T/ref.trace" --backend "$b" --port "$p"
  ref_arrow=$NT_PID
  start_nettrace "$T/ref.json" --backend "$b" --port "$p" --format json
  "$W" connect --to 127.0.0.1:$p --comm nt-cli-ref --expect-fail -v >"$T/ref.cli" || fail "refused: the connect did not fail"
  sleep 0.2; stop_nettrace; NT_PID=$ref_arrow; stop_nettrace
  ref_pid=$(awk '$1=="pid"{print $2}' "$T/ref.cli")
  if grep -q "PID=$ref_pid " "$T/ref.trace"; then fail "$b/refused: a refused connect was reported: $(cat "$T/ref.trace")"; fi
  grep "\"pid\":$ref_pid," "$T/ref.json" | grep -q '"type":"failed".*"error":"ECONNREFUSED"' ||
    fail "$b/refused: no failed/ECONNREFUSED record in JSON: $(cat "$T/ref.json")"
  pass "$b/refused: absent from arrow output, failed ECONNREFUSED in JSON"
done

# Two network namespaces joined by a veth pair: the client in one, the server
# in the other, nettrace in the root namespace sees both ends.
nsa=nt-live-a-$$ nsb=nt-live-b-$$
trap 'ip netns del $nsa 2>/dev/null; ip netns del $nsb 2>/dev/null; cleanup' EXIT
"$(dirname "$0")/../../tools/netns-pair.sh" up $nsa 10.231.0.1/24 $nsb 10.231.0.2/24
for b in "${backends[@]}"; do
  rm -f "$T"/ns.*
  p=$(free_port)
  start_nettrace "$T/ns.trace" --backend "$b" --port "$p"
  ip netns exec $nsa "$W" serve --listen 10.231.0.1:$p --comm nt-srv-ns --count 3 -v >"$T/ns.srv" &
  srv=$!; NT_BG_PIDS+=("$srv")
  wait_ready_line "$T/ns.srv" "$srv"
  ip netns exec $nsb "$W" connect --to 10.231.0.1:$p --comm nt-cli-ns --count 3 -v >"$T/ns.cli" || fail "netns: connect failed"
  wait "$srv" || fail "netns: serve failed"
  sleep 0.2; stop_nettrace
  cli_pid=$(awk '$1=="pid"{print $2}' "$T/ns.cli"); srv_pid=$(awk '$1=="pid"{print $2}' "$T/ns.srv")
  { expected_lines "$T/ns.cli" "$cli_pid" nt-cli-ns; expected_lines "$T/ns.srv" "$srv_pid" nt-srv-ns; } >"$T/ns.want"
  check_lines "$b/netns" "$T/ns.trace" "$T/ns.want" "$cli_pid" "$srv_pid"
  pass "$b/netns: client and server in two namespaces over veth, 6 exact lines"
done

# auto picks the cheapest backend that attaches, as --info reports it, and
# says on stderr which one, in one calm line (the why is for -v and --info).
want=$("$BIN/nettrace" --info | awk '/^auto picks:/ { print $3 }')
"$BIN/nettrace" -d 1 >/dev/null 2>"$T/auto.err" || fail "auto: nettrace failed: $(cat "$T/auto.err")"
grep -qx "nettrace: tracing with the $want backend; Ctrl-C to stop" "$T/auto.err" || fail "auto: --info says $want, stderr says: $(cat "$T/auto.err")"
if [[ "$want" != "$("$BIN/nettrace" --info | awk '$2 == "loads+attaches" { print $1; exit }')" ]]; then
  fail "auto: --info's pick is not the first (cheapest) backend that loads"
fi
pass "auto: $(head -1 "$T/auto.err")"
