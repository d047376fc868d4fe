#!/usr/bin/env bash
# Builds the Debian package in one command: tools/package.sh [BUILD_DIR]
# (default build/). Configures if needed, builds what the package holds, runs
# CPack's DEB generator (cmake/NtPackage.cmake) and prints the .deb's path.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${1:-$src/build}")
if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
# Only what is installed (NtPackage.cmake keeps cpack from building all, tests
# and fuzzers included).
cmake --build "$build" -j"$(nproc)" --target nettrace netgraph man_pages >/dev/null
out=$build/package
mkdir -p "$out"
(cd "$build" && cpack -G DEB -B "$out" >"$out/cpack.log") || { cat "$out/cpack.log" >&2; exit 1; }
ls "$out"/nettrace_*.deb
