#!/usr/bin/env bash
# Redraws every example graph from its trace: examples/graphs/<name>.{dot,png,json}.
# The .json files are the golden structure (nodes, edges, counts) that
# tests/examples compares against; review their diff before committing.
#
#   tools/regen-examples.sh [BUILD_DIR]     (default: build)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$here/build}
ng=$build/bin/netgraph
[[ -x "$ng" ]] || { echo "regen-examples.sh: no $ng: build first (cmake --build $build --target netgraph)" >&2; exit 1; }
out=$here/examples/graphs
mkdir -p "$out"
cd "$here/examples/traces"
draw() {
  local name=$1; shift
  "$ng" "$@" -o "$out/$name.dot"
  "$ng" "$@" -T png -o "$out/$name.png"
  "$ng" "$@" -T json -o "$out/$name.json"
  echo "examples/graphs/$name.{dot,png,json}"
}
for t in *.trace; do draw "${t%.trace}" "$t"; done
draw fleet fleet/*.trace
for g in pid exe container pod unit cgroup; do draw "identity-by-$g" identity.trace --group-by "$g"; done
draw nat-service-by-service --group-by service nat-service.trace
