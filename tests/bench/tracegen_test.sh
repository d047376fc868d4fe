#!/usr/bin/env bash
# benchtool tracegen: every line is a trace line netgraph accepts (--strict),
# every connection's two ends pair up, and the JSON form of the same trace
# gives the same graph as the arrow form.
set -euo pipefail
bin=${1:?usage: tracegen_test.sh BIN_DIR}
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
"$bin/benchtool" tracegen --lines 20000 --procs 64 >"$t/g.trace"
"$bin/benchtool" tracegen --lines 20000 --procs 64 --json >"$t/g.json"
[[ $(wc -l <"$t/g.trace") -eq 20000 ]] || fail "arrow trace has $(wc -l <"$t/g.trace") lines, want 20000"
[[ $(wc -l <"$t/g.json") -eq 20000 ]] || fail "JSON trace has $(wc -l <"$t/g.json") lines, want 20000"
grep -q ':\[\?[0-9a-f:.]*\]\?:[0-9]*<-' "$t/g.trace" || fail "no connect line in the arrow trace"
grep -q '\[2001:db8' "$t/g.trace" || fail "no IPv6 line in the arrow trace"
# Compared as JSON, one node per process: the DOT's title also gives the
# time span, which only JSON lines carry.
for f in g.trace g.json; do
  "$bin/netgraph" --strict --stats --group-by pid -T json "$t/$f" -o "$t/$f.graph" 2>"$t/$f.err" || fail "netgraph --strict rejected $f: $(cat "$t/$f.err")"
  grep -q 'pairs matched 10000, unmatched 0,' "$t/$f.err" || fail "$f: not every connection paired: $(cat "$t/$f.err")"
done
cmp -s "$t/g.trace.graph" "$t/g.json.graph" || fail "arrow and JSON forms of one trace give different graphs"
# 8 client programs x (64/8) machines' worth of processes + 6 servers, as documented.
nodes=$(sed -nE 's/.*nodes ([0-9]+),.*/\1/p' "$t/g.trace.err")
[[ $nodes -eq 70 ]] || fail "expected 70 process nodes (64 clients, 6 servers), got $nodes"
echo "tracegen: 20000 lines, arrow and JSON, 10000 pairs, 70 nodes, identical graphs"
