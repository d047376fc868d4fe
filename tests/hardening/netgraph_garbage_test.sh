#!/usr/bin/env bash
# netgraph on garbage: never a crash; bad lines are skipped with a warning that
# names the file and line; the DOT it writes is valid (dot accepts it).
source "$(dirname "$0")/lib.sh"

good='10.0.0.1:80<-10.0.0.2:40000|PID=10 CMD=client'
good_in='10.0.0.2:40000->10.0.0.1:80|PID=20 CMD=server'

head -c 65536 /dev/urandom >"$T/binary.trace"
{ echo "$good"; head -c 10485760 /dev/zero | tr '\0' 'x'; echo; echo "$good_in"; } >"$T/longline.trace"
{ echo "$good"; printf '%s' "${good_in:0:20}"; } >"$T/truncated.trace"
: >"$T/empty.trace"
printf '# just a comment\n#another\n\n' >"$T/comments.trace"
printf '%s\r\n%s\r\n' "$good" "$good_in" >"$T/crlf.trace"

for f in binary longline truncated empty comments crlf; do
  rc=0
  "$BIN/netgraph" --stats "$T/$f.trace" >"$T/$f.dot" 2>"$T/$f.err" || rc=$?
  [[ $rc -eq 0 ]] || fail "$f: netgraph exited $rc: $(head -3 "$T/$f.err")"
  dot -Tsvg "$T/$f.dot" >/dev/null 2>"$T/$f.doterr" || fail "$f: dot rejected the output: $(cat "$T/$f.doterr")"
done

grep -q "binary.trace:[0-9]" "$T/binary.err" || fail "binary: no warning naming file and line"
grep -q "longline.trace:2" "$T/longline.err" || fail "longline: no warning for line 2: $(cat "$T/longline.err")"
grep -q "truncated.trace:2" "$T/truncated.err" || fail "truncated: no warning for the cut last line"
# The good lines around the garbage still pair into an edge.
for f in longline crlf; do
  n=$(gvpr 'E { if (index(tail.label, "client") >= 0 && index(head.label, "server") >= 0) print("EDGE"); }' "$T/$f.dot" | grep -c EDGE || true)
  [[ $n -ge 1 ]] || fail "$f: the good lines around the bad ones did not give client -> server"
done
if grep -q "crlf.trace:" "$T/crlf.err"; then fail "crlf: CRLF line ends were reported as bad lines"; fi
pass "netgraph survives binary, 10 MB line, truncated, empty, comment-only and CRLF input"

# Nothing to draw is said in words (exit status stays 0), naming the inputs;
# a graph with connections says no such thing.
for f in binary empty comments; do
  grep -qx "netgraph: no connections found in $T/$f.trace (netgraph reads what nettrace writes: arrow or JSON lines)" "$T/$f.err" ||
    fail "$f: no 'no connections found' line naming the input: $(tail -2 "$T/$f.err")"
done
rc=0
"$BIN/netgraph" - "$T/empty.trace" </dev/null >/dev/null 2>"$T/two.err" || rc=$?
[[ $rc -eq 0 ]] || fail "two empty inputs: exit $rc"
grep -qx "netgraph: no connections found in <stdin>, $T/empty.trace (.*)" "$T/two.err" || fail "two empty inputs: $(cat "$T/two.err")"
for f in longline crlf; do
  if grep -q "no connections" "$T/$f.err"; then fail "$f: 'no connections' said of a graph with connections"; fi
done
pass "empty, binary and comment-only input say 'no connections found in INPUT', exit 0"

# --strict turns the first bad line into a failure with a distinct exit code.
rc=0
"$BIN/netgraph" --strict "$T/truncated.trace" >/dev/null 2>"$T/strict.err" || rc=$?
[[ $rc -ne 0 && $rc -ne 1 ]] || fail "--strict on a bad line exited $rc (want a non-zero input-error code)"
[[ -s "$T/strict.err" ]] || fail "--strict said nothing on stderr"
pass "--strict fails on bad input with exit $rc"
