#!/usr/bin/env bash
# End-to-end check of the README's first quick-start command: tools/run.sh must
# leave a trace, a DOT file and a PNG, and the graph must hold an edge from the
# demo client process to the demo server process.
set -euo pipefail
src=$1
build=$2
if [[ $(id -u) -ne 0 ]]; then
  if [[ "${CI:-}" == "true" ]]; then echo "FAIL: CI must run this as root" >&2; exit 1; fi
  echo "SKIP: tools/run.sh needs root (run the suite as root)"; exit 77
fi
out=$(mktemp -d /tmp/nt-quickstart.XXXXXX)
trap 'rm -rf "$out"' EXIT
NT_BUILD_DIR=$build "$src/tools/run.sh" -d 4 -o "$out" | tee "$out/log"
trace=$(sed -n 's/^trace: *//p' "$out/log")
dotfile=$(sed -n 's/^dot: *//p' "$out/log")
png=$(sed -n 's/^png: *//p' "$out/log")
for f in "$trace" "$dotfile" "$png"; do
  [[ -s "$f" ]] || { echo "FAIL: run.sh did not write a non-empty '$f'" >&2; exit 1; }
done
# PNG signature: \x89PNG
[[ $(head -c 4 "$png" | od -An -tx1 | tr -d ' \n') == 89504e47 ]] || { echo "FAIL: $png is not a PNG" >&2; exit 1; }
grep -q 'CMD=demo-client' "$trace" || { echo "FAIL: the trace has no connect from demo-client" >&2; exit 1; }
grep -q 'CMD=demo-server' "$trace" || { echo "FAIL: the trace has no accept by demo-server" >&2; exit 1; }
# gvpr (part of graphviz) reads the DOT as a graph, so this checks structure, not text.
edges=$(gvpr 'E { if (index(tail.label, "demo-client") >= 0 && index(head.label, "demo-server") >= 0) print("EDGE"); }' "$dotfile" | grep -c EDGE || true)
if [[ "$edges" -lt 1 ]]; then
  echo "FAIL: no demo-client -> demo-server edge in $dotfile" >&2
  cat "$dotfile" >&2
  exit 1
fi
# The title names this machine, not the trace file's time-stamped name.
host=$(hostname 2>/dev/null || uname -n)
grep -q "TCP connections on $host<" "$dotfile" || { echo "FAIL: the graph's title does not name this host ($host): $(grep -o 'TCP connections on [^<]*' "$dotfile")" >&2; exit 1; }
echo "PASS: quick start drew $edges demo-client -> demo-server edge(s), titled with $host"
