#!/usr/bin/env bash
# What the identity (issue 13) costs nettrace's user space: callgrind
# instructions inside identity_bench's measured loop, divided by its count.
# Instruction counts do not depend on the machine's load; the wall-clock
# figures identity_bench prints do.
#   tools/bench/identity_cost.sh [BUILD_DIR]     (default: build)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
bench=${1:-$here/build}/bin/identity_bench
[[ -x $bench ]] || { echo "identity_cost.sh: no $bench: build it (cmake --build build --target identity_bench)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "identity_cost.sh: valgrind is missing: apt-get install valgrind" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
run() { # mode count
  valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$tmp/out" \
    "$bench" "$1" "$2" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
  local ir
  ir=$(awk '/^summary:/ { print $2 }' "$tmp/out")
  printf '%-14s %10d  %12s instructions  %10.1f per item\n' "$1" "$2" "$ir" "$(echo "$ir / $2" | bc -l)"
}
echo "mode            count  instructions (callgrind, measured loop only)"
run first 200
run hot 200000
run json-plain 100000
run json-identity 100000
