#!/usr/bin/env bash
# benchtool tracegen: every line is a trace line netgraph accepts (--strict),
# every connection's two ends pair up, and the JSON form of the same trace
# gives the same graph as the arrow form; in both shapes (sequential, busy).
set -euo pipefail
bin=${1:?usage: tracegen_test.sh BIN_DIR}
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Both forms of one shape: 20000 lines each, every connection paired under
# --strict, the same graph from either form (compared as JSON, one node per
# process: the DOT's title also gives the time span, which only JSON lines
# carry), and 8 client programs x (64/8) machines' worth of processes + 6
# servers, as documented.
#   both_forms NAME FILE-PREFIX [tracegen options...]
both_forms() {
  local name=$1 p=$2 f nodes
  shift 2
  "$bin/benchtool" tracegen --lines 20000 --procs 64 "$@" >"$t/$p.trace"
  "$bin/benchtool" tracegen --lines 20000 --procs 64 "$@" --json >"$t/$p.json"
  for f in $p.trace $p.json; do
    [[ $(wc -l <"$t/$f") -eq 20000 ]] || fail "$name: $f has $(wc -l <"$t/$f") lines, want 20000"
    "$bin/netgraph" --strict --stats --group-by pid -T json "$t/$f" -o "$t/$f.graph" 2>"$t/$f.err" || fail "$name: netgraph --strict rejected $f: $(cat "$t/$f.err")"
    grep -q 'pairs matched 10000, unmatched 0,' "$t/$f.err" || fail "$name: $f: not every connection paired: $(cat "$t/$f.err")"
  done
  cmp -s "$t/$p.trace.graph" "$t/$p.json.graph" || fail "$name: arrow and JSON forms of one trace give different graphs"
  nodes=$(sed -nE 's/.*nodes ([0-9]+),.*/\1/p' "$t/$p.trace.err")
  [[ $nodes -eq 70 ]] || fail "$name: expected 70 process nodes (64 clients, 6 servers), got $nodes"
}
both_forms sequential g
grep -q ':\[\?[0-9a-f:.]*\]\?:[0-9]*<-' "$t/g.trace" || fail "no connect line in the arrow trace"
grep -q '\[2001:db8' "$t/g.trace" || fail "no IPv6 line in the arrow trace"
echo "tracegen: 20000 lines, arrow and JSON, 10000 pairs, 70 nodes, identical graphs"

# --shape busy: the same checks, and that it is the shape it claims: random
# ephemeral ports from the kernel's range, accepts that do not always follow
# their connect, and every accept within the bounded window (32 open, so at
# most 4 x 32 lines after its connect).
both_forms busy b --shape busy
# Per connect line: its client port, and how many lines later its accept came.
awk -F'\\|' '
  { split($1, e, /<-|->/); arrow = ($1 ~ /<-/) ? "c" : "a" }
  arrow == "c" { key = e[2] " " e[1]; at[key] = NR; n = split(e[2], p, ":"); port = p[n]
                 if (port < 32768 || port > 60999) bad++; ports[port] = 1; conns++ }
  arrow == "a" { key = e[1] " " e[2]; d = NR - at[key]; if (d > 1) late++; if (d > max) max = d }
  END { for (q in ports) distinct++
        printf "%d %d %d %d %d\n", conns, bad, distinct, late, max }' "$t/b.trace" >"$t/shape"
read -r conns bad distinct late max <"$t/shape"
[[ $conns -eq 10000 && $bad -eq 0 ]] || fail "busy: $conns connects, $bad ports outside 32768-60999"
[[ $distinct -gt 8000 ]] || fail "busy: only $distinct distinct client ports in 10000 connects: not random"
[[ $late -gt 5000 ]] || fail "busy: only $late of 10000 accepts came later than the next line"
[[ $max -le 128 ]] || fail "busy: an accept came $max lines after its connect (window bound 128)"
echo "tracegen --shape busy: 10000 pairs, $distinct distinct ports, $late late accepts, max delay $max lines"
