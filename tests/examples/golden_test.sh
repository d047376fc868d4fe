#!/usr/bin/env bash
# Golden tests: each example trace must still give the graph committed beside
# it. Compared as netgraph's JSON (nodes, edges, counts, stats), not as layout.
#   golden_test.sh SOURCE_DIR NETGRAPH
set -euo pipefail
src=$1 ng=$2
cd "$src/examples/traces"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
status=0
check() {
  local name=$1; shift
  "$ng" "$@" -T json -o "$tmp/$name.json"
  if ! cmp -s "$tmp/$name.json" "$src/examples/graphs/$name.json"; then
    echo "FAIL: $name: the graph differs from examples/graphs/$name.json (run tools/regen-examples.sh if intended):"
    diff "$src/examples/graphs/$name.json" "$tmp/$name.json" | head -20
    status=1
  else
    echo "PASS: $name"
  fi
}
for t in *.trace; do check "${t%.trace}" "$t"; done
check fleet fleet/*.trace
# Identity (issue 13): a reused pid is two nodes, and the groupings the
# identity fields give.
for g in pid exe container pod unit cgroup; do check "identity-by-$g" identity.trace --group-by "$g"; done
check nat-service-by-service --group-by service nat-service.trace
exit $status
