#!/usr/bin/env bash
# What nettrace says on stderr, checked against what it wrote on stdout:
# one calm line naming the backend (the why only with -v); an exit summary
# that counts the lines actually written and names separately the failed
# connects it did not show; -t puts a clock before each line and netgraph
# draws the same graph from it; -u takes a user name.
source "$(dirname "$0")/lib.sh"
need_root

comm=ntsum$$ # at most 15 bytes: the kernel's comm
port=$(free_port)
closed=$(free_port)
while [[ $closed == "$port" ]]; do closed=$(free_port); done
want=$("$BIN/nettrace" --info | awk '/^auto picks:/ { print $3 }')
[[ -n $want && $want != none ]] || fail "--info picks no backend here: $("$BIN/nettrace" --info)"
calm="nettrace: tracing with the $want backend; Ctrl-C to stop"

# Three connections (a connect and an accept each: 6 lines) and two connects
# refused by a closed port, all by processes named $comm.
traffic() {
  local name=$1
  "$BIN/workload" serve --listen 127.0.0.1:$port --comm "$comm" --count 3 >"$T/$name.srv" &
  local srv=$!; NT_BG_PIDS+=("$srv")
  wait_ready_line "$T/$name.srv" "$srv"
  "$BIN/workload" connect --to 127.0.0.1:$port --comm "$comm" --count 3 >"$T/$name.cli" || fail "$name: connects failed"
  "$BIN/workload" connect --to 127.0.0.1:$closed --comm "$comm" --count 2 --expect-fail >"$T/$name.refused" || fail "$name: the refused connects did not fail"
  wait "$srv" || fail "$name: the server did not accept 3"
  grep -qx 'connected 0 failed 2' "$T/$name.refused" || fail "$name: want 2 refused connects: $(cat "$T/$name.refused")"
  sleep 0.3 # let the last events reach the ring's next drain
}

# Runs nettrace around traffic(); leaves $T/NAME.out and $T/NAME.err.
session() {
  local name=$1; shift
  : >"$T/nettrace.err"
  start_nettrace "$T/$name.out" --comm "$comm" "$@"
  traffic "$name"
  stop_nettrace
  cp "$T/nettrace.err" "$T/$name.err"
}

# Default: 6 lines; the summary counts them and names the 2 failed connects.
session plain
lines=$(wc -l <"$T/plain.out")
[[ $lines -eq 6 ]] || fail "plain: want 6 lines (3 connects, 3 accepts), got $lines: $(cat "$T/plain.out")"
[[ $(grep -c "CMD=$comm\$" "$T/plain.out") -eq 6 ]] || fail "plain: lines from other processes: $(cat "$T/plain.out")"
[[ $(head -1 "$T/plain.err") == "$calm" ]] || fail "plain: first stderr line is not the calm one: $(cat "$T/plain.err")"
! grep -qi 'errno\|cheaper\|not used here' "$T/plain.err" || fail "plain: stderr talks of failing backends without -v: $(cat "$T/plain.err")"
summary="nettrace: $lines connections written, 2 failed connects not shown (add --failed), 0 lost ($want backend)"
[[ $(tail -1 "$T/plain.err") == "$summary" ]] || fail "plain: summary is '$(tail -1 "$T/plain.err")', want '$summary'"
[[ $(wc -l <"$T/plain.err") -eq 2 ]] || fail "plain: want 2 stderr lines (calm line, summary): $(cat "$T/plain.err")"
pass "plain: $summary"

# --failed (and -u by name): the failed connects are written and counted as such.
session failed --failed -u root
conns=$(grep -vc '^#' "$T/failed.out" || true)
failed=$(grep -c '^# failed ' "$T/failed.out" || true)
[[ $conns -eq 6 && $failed -eq 2 ]] || fail "--failed -u root: want 6 connections and 2 '# failed' lines: $(cat "$T/failed.out")"
summary="nettrace: $conns connections and $failed failed connects written, 0 lost ($want backend)"
[[ $(tail -1 "$T/failed.err") == "$summary" ]] || fail "--failed: summary is '$(tail -1 "$T/failed.err")', want '$summary'"
pass "--failed -u root: $summary"

# -u with a user that made none of this traffic: nothing.
session nobody -u nobody
[[ ! -s "$T/nobody.out" ]] || fail "-u nobody: root's connections were written: $(cat "$T/nobody.out")"
[[ $(tail -1 "$T/nobody.err") == "nettrace: 0 connections written, 0 lost ($want backend)" ]] || fail "-u nobody: summary: $(tail -1 "$T/nobody.err")"
pass "-u nobody: nothing from root's processes"

# -t: a clock before each line, the line itself unchanged after it.
before=$(date +%H:%M)
session stamped -t --failed
after=$(date +%H:%M)
[[ $(wc -l <"$T/stamped.out") -eq 8 ]] || fail "-t: want 8 lines: $(cat "$T/stamped.out")"
! grep -qvE '^[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3} ' "$T/stamped.out" || fail "-t: a line without the HH:MM:SS.mmm clock: $(cat "$T/stamped.out")"
cut -c1-5 "$T/stamped.out" | sort -u | grep -qvxE "$before|$after" && fail "-t: clock outside the run ($before..$after): $(cat "$T/stamped.out")"
cut -c14- "$T/stamped.out" >"$T/stripped.out"
grep -qE '^# failed ' "$T/stripped.out" || fail "-t: the failed markers lost their form: $(cat "$T/stripped.out")"
[[ $(grep -cE "^[0-9.]+:[0-9]+(<-|->)[0-9.]+:[0-9]+\|PID=[0-9]+ CMD=$comm\$" "$T/stripped.out") -eq 6 ]] || fail "-t: after the clock, not the plain arrow lines: $(cat "$T/stripped.out")"
# Both read from stdin: the graph's title names the input, and the two files differ in name.
"$BIN/netgraph" <"$T/stamped.out" >"$T/stamped.dot" 2>"$T/stamped.ng" || fail "netgraph refused -t lines: $(cat "$T/stamped.ng")"
"$BIN/netgraph" <"$T/stripped.out" >"$T/stripped.dot" 2>/dev/null || fail "netgraph refused the stripped lines"
cmp -s "$T/stamped.dot" "$T/stripped.dot" || fail "netgraph draws -t lines differently: $(diff "$T/stamped.dot" "$T/stripped.dot")"
grep -q "$comm" "$T/stamped.dot" || fail "netgraph's graph of the -t trace has no $comm node: $(cat "$T/stamped.dot")"
pass "-t: every line starts with the local clock; netgraph draws the same graph as without it"

# -v: now the why of every cheaper backend that failed, in words.
"$BIN/nettrace" -v -d 0.2 --comm "$comm" >/dev/null 2>"$T/verbose.err" || fail "-v: nettrace failed: $(cat "$T/verbose.err")"
for b in $("$BIN/nettrace" --info | awk -v want="$want" '$2 == "fails:" { print $1 } $1 == want { exit }'); do
  grep -q "^nettrace: the $b backend is not used here: " "$T/verbose.err" || fail "-v: no word on why $b was not used: $(grep -v '^libbpf' "$T/verbose.err")"
done
grep -qx "$calm" "$T/verbose.err" || fail "-v: the calm line is missing"
pass "-v: $(grep '^nettrace: the .* not used here' "$T/verbose.err" | wc -l) cheaper backends explained"
