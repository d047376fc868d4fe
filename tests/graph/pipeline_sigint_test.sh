#!/usr/bin/env bash
# README's headline pipeline, ended the way a user ends it: Ctrl-C sends
# SIGINT to the whole foreground process group, writer and netgraph alike.
# netgraph must finish (read what the writer still sends, draw, write the
# PNG, exit 0); a second SIGINT kills it as usual.
#
#   pipeline_sigint_test.sh BIN_DIR standin   the writer is a script standing in for nettrace
#   pipeline_sigint_test.sh BIN_DIR live      real nettrace (root), filtered to a test port
#
# The pipeline runs as written, `WRITER | netgraph -T png -o FILE`, under
# setsid: one process group, signalled with kill -INT -PGID as a terminal
# does. The PNG must be the very picture netgraph draws from the lines the
# writer wrote, rendered apart.
source "$(dirname "$0")/../hardening/lib.sh"
mode=${2:?usage: $0 BIN_DIR standin|live}
# Job control: background jobs keep SIGINT (a script's would ignore it, and
# what the parent ignores stays ignored), as in an interactive shell.
set -m

# Runs "$1 | netgraph -T png -o $T/graph.png" in its own session; sets PGID.
start_pipeline() {
  rm -f "$T/pgid" "$T/graph.png"
  setsid -w bash -c 'echo $$ >"$0/pgid.tmp"; mv "$0/pgid.tmp" "$0/pgid"; '"$1"' | "$1/netgraph" -T png -o "$0/graph.png" 2>"$0/netgraph.err"' \
    "$T" "$BIN" 2>>"$T/setsid.err" &
  PIPE_JOB=$!
  NT_BG_PIDS+=("$PIPE_JOB")
  for _ in $(seq 1 100); do [[ -s "$T/pgid" ]] && break; sleep 0.05; done
  PGID=$(cat "$T/pgid")
  NT_BG_PGIDS+=("$PGID") # a failing check must not leave nettrace attached
}

# Waits until netgraph reads (it then catches SIGINT: bit 2 of SigCgt), as
# it long does when a user presses Ctrl-C; at most 3 s (a netgraph that never
# catches SIGINT gets it then, and the checks below say what it did); sets NG_PID.
wait_netgraph_reading() {
  NG_PID=
  for _ in $(seq 1 60); do
    NG_PID=$(pgrep -g "$PGID" -x netgraph || true)
    if [[ -n $NG_PID ]]; then
      cgt=$(awk '/^SigCgt:/ { print $2 }' "/proc/$NG_PID/status" 2>/dev/null || true)
      [[ -n $cgt ]] && (((16#$cgt >> 1) & 1)) && return 0
    fi
    sleep 0.05
  done
  [[ -n $NG_PID ]] || fail "netgraph did not start"
}

# Waits for the pipeline (at most 10 s); sets RC.
wait_pipeline() {
  for _ in $(seq 1 200); do kill -0 "$PIPE_JOB" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$PIPE_JOB" 2>/dev/null && fail "the pipeline still runs 10 s after SIGINT"
  RC=0; wait "$PIPE_JOB" || RC=$?
}

# The PNG netgraph draws from these lines, apart from any pipeline.
reference() { "$BIN/netgraph" -T png -o "$2" <"$1"; }

check_png() {
  [[ $RC -eq 0 ]] || fail "$1: the pipeline exited $RC after SIGINT (want 0): $(cat "$T/netgraph.err")"
  [[ -s "$T/graph.png" ]] || fail "$1: no graph.png after SIGINT: $(cat "$T/netgraph.err")"
  [[ $(head -c 4 "$T/graph.png" | od -An -c | tr -s ' ') == " 211 P N G" ]] || fail "$1: graph.png is not a PNG"
  grep -q '^netgraph: interrupted: drawing the' "$T/netgraph.err" || fail "$1: netgraph did not say it was interrupted: $(cat "$T/netgraph.err")"
  if grep -qi 'broken pipe\|cannot' "$T/netgraph.err"; then fail "$1: $(cat "$T/netgraph.err")"; fi
  ls "$T" | grep -q 'graph.png.tmp' && fail "$1: a temporary file was left behind"
  return 0
}

if [[ $mode == standin ]]; then
  # Stands in for nettrace: writes its lines, waits; on SIGINT writes the
  # last batch (as nettrace drains its ring buffer at exit) and exits 0.
  printf '%s\n' '10.0.0.1:80<-10.0.0.2:40000|PID=10 CMD=client' '10.0.0.2:40000->10.0.0.1:80|PID=20 CMD=server' \
    '10.0.0.1:80<-10.0.0.3:40001|PID=11 CMD=client' >"$T/first"
  printf '%s\n' '10.0.0.3:40001->10.0.0.1:80|PID=20 CMD=server' >"$T/last"
  cat >"$T/writer.sh" <<'W'
trap 'cat "$0.last"; exit 0' INT TERM
cat "$0.first"
: >"$0.ready"
while :; do sleep 0.05; done
W
  cp "$T/first" "$T/writer.sh.first"; cp "$T/last" "$T/writer.sh.last"
  start_pipeline "bash $T/writer.sh"
  for _ in $(seq 1 100); do [[ -e "$T/writer.sh.ready" ]] && break; sleep 0.05; done
  wait_netgraph_reading
  kill -INT -- "-$PGID"
  wait_pipeline
  check_png "stand-in writer"
  cat "$T/first" "$T/last" >"$T/all"
  reference "$T/all" "$T/want.png"
  cmp -s "$T/graph.png" "$T/want.png" || fail "stand-in writer: graph.png is not the graph of the lines written (the last batch too)"
  pass "writer | netgraph -T png -o FILE, SIGINT to the group: the PNG of every line written, exit 0"

  # A second SIGINT kills: a writer that keeps the pipe open past SIGINT.
  cat >"$T/stubborn.sh" <<'W'
trap '' INT
cat "$0.first"
: >"$0.ready"
while :; do sleep 0.05; done
W
  cp "$T/first" "$T/stubborn.sh.first"
  start_pipeline "bash $T/stubborn.sh"
  for _ in $(seq 1 100); do [[ -e "$T/stubborn.sh.ready" ]] && break; sleep 0.05; done
  wait_netgraph_reading
  ngpid=$NG_PID
  kill -INT "$ngpid"; sleep 0.2; kill -INT "$ngpid"
  for _ in $(seq 1 100); do kill -0 "$ngpid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$ngpid" 2>/dev/null && fail "netgraph still runs after a second SIGINT"
  [[ ! -e "$T/graph.png" ]] || fail "netgraph wrote a graph although a second SIGINT killed it"
  kill -TERM -- "-$PGID" 2>/dev/null || true
  wait "$PIPE_JOB" 2>/dev/null || true
  pass "a second SIGINT kills netgraph as usual"
  exit 0
fi

# Live: real nettrace, filtered to a test port, one connection made while
# the pipeline runs; its exact lines come from what the test processes saw.
need_root
W=$BIN/workload
port=$(free_port)
start_pipeline "\"\$1/nettrace\" --port $port --ready-file \"\$0/ready\" 2>\"\$0/nettrace.err\""
for _ in $(seq 1 200); do [[ -e "$T/ready" ]] && break; kill -0 "$PIPE_JOB" 2>/dev/null || break; sleep 0.05; done
[[ -e "$T/ready" ]] || fail "nettrace did not become ready: $(cat "$T/nettrace.err" 2>/dev/null)"
wait_netgraph_reading
"$W" serve --listen "127.0.0.1:$port" --comm "ngs$$" --count 0 -v >"$T/srv" &
srv=$!; NT_BG_PIDS+=("$srv")
wait_ready_line "$T/srv" "$srv"
"$W" connect --to "127.0.0.1:$port" --comm "ngc$$" -v --count 1 >"$T/cli" || fail "connect failed"
for _ in $(seq 1 100); do grep -q '^accepted' "$T/srv" && break; sleep 0.02; done
kill "$srv"; wait "$srv" 2>/dev/null || true
kill -INT -- "-$PGID"
wait_pipeline
check_png "nettrace"
cpid=$(awk '$1 == "pid" { print $2 }' "$T/cli")
spid=$(awk '$1 == "pid" { print $2 }' "$T/srv")
conn=$(awk -v p="$cpid" -v c="ngc$$" '$1 == "conn" { print $4 "<-" $3 "|PID=" p " CMD=" c }' "$T/cli")
acc=$(awk -v p="$spid" -v c="ngs$$" '$1 == "accepted" { print $3 "->" $2 "|PID=" p " CMD=" c }' "$T/srv")
# nettrace may write either end first: either order draws this graph.
printf '%s\n%s\n' "$conn" "$acc" >"$T/order1"; reference "$T/order1" "$T/want1.png"
printf '%s\n%s\n' "$acc" "$conn" >"$T/order2"; reference "$T/order2" "$T/want2.png"
cmp -s "$T/graph.png" "$T/want1.png" || cmp -s "$T/graph.png" "$T/want2.png" ||
  fail "nettrace: graph.png is not the graph of the connection made ($conn / $acc)"
pass "sudo nettrace | netgraph -T png -o FILE, SIGINT to the group: the PNG holds the connection, exit 0"
