#!/usr/bin/env bash
# Issue 18, live: connections with a known life (close_driver.py) under
# nettrace --format json, and their close and open records compared exactly
# with what the test processes saw (close_check.py): 1 MiB out and 10 KiB
# back over IPv4 and IPv6, a reset, a close by the peer, two network
# namespaces, an owner that exited before the close, a forking server,
# SCM_RIGHTS, and connections still open when nettrace stops.
#
#   close_test.sh BUILD_BIN_DIR [BACKEND]
source "$(dirname "$0")/../hardening/lib.sh"
need_root
backend=${2:-auto}
here=$(dirname "$0")
command -v python3 >/dev/null || fail "python3 is needed"
command -v ip >/dev/null || { [[ "${CI:-}" == "true" ]] && fail "ip (iproute2) is needed"; echo "SKIP: no ip command"; exit 77; }

base=$(( 20000 + ($$ % 500) * 16 ))
ns_a=ntc-a-$$ ns_b=ntc-b-$$
"$here/../../tools/netns-pair.sh" up "$ns_a" 10.218.0.1/24 "$ns_b" 10.218.0.2/24
cleanup_ns() { "$here/../../tools/netns-pair.sh" down "$ns_a" "$ns_b" 2>/dev/null || true; cleanup; }
trap cleanup_ns EXIT

ports=$(seq -s, "$base" $((base + 8)))
# The same connections in arrow form with --close, by a second instance.
start_nettrace "$T/trace.arrow" --backend "$backend" --close --port "$ports"
arrow_pid=$NT_PID
start_nettrace "$T/trace.json" --backend "$backend" --format json --port "$ports"
python3 "$here/close_driver.py" "$T/expect" "$base" "$ns_a" "$ns_b" 10.218.0.2 "$T/release" \
  >"$T/driver.out" 2>"$T/driver.err" &
drv=$!; NT_BG_PIDS+=("$drv")
for _ in $(seq 1 600); do
  grep -q holding "$T/driver.out" 2>/dev/null && break
  kill -0 "$drv" 2>/dev/null || break
  sleep 0.05
done
grep -q holding "$T/driver.out" || { cat "$T/driver.err" >&2; fail "the scenarios did not run"; }
# Every close has happened once each process saw its own end (the driver
# waited for them); the last CLOSE of a TIME_WAIT pair may still be in
# flight on another CPU for a moment, so nettrace drains for two ticks more.
sleep 0.1
stop_nettrace
NT_PID=$arrow_pid stop_nettrace
touch "$T/release"
wait "$drv" || { cat "$T/driver.err" >&2; fail "the scenario driver failed"; }
if ! python3 "$here/close_check.py" "$T/expect" "$T/trace.json" "$T/trace.arrow" >"$T/check.out"; then
  cat "$T/check.out" >&2
  fail "close and open records differ from what the processes saw"
fi
pass "$backend: $(tail -1 "$T/check.out")"
grep -q "2 connections open at exit" "$T/nettrace.err" ||
  fail "the exit summary does not count the 2 connections still open: $(cat "$T/nettrace.err")"
pass "$backend: the exit summary counts the connections still open"
# The arrow form reads back: netgraph takes the '# close' lines as trace lines.
"$BIN/netgraph" -T json "$T/trace.arrow" >"$T/graph.json" 2>"$T/netgraph.err" ||
  fail "netgraph cannot read nettrace --close output: $(cat "$T/netgraph.err")"
grep -q "bad" "$T/netgraph.err" && grep -Eq "bad [1-9]" "$T/netgraph.err" &&
  fail "netgraph found bad lines in nettrace --close output: $(cat "$T/netgraph.err")"
pass "$backend: arrow output with --close reads back"
