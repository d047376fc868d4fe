#!/usr/bin/env bash
# The checked-in .clang-format holds for every C++ file (BPF C keeps kernel
# style and is left out), and nothing in the build, the tests or the tools
# reaches outside the repository: a clone must stand alone.
#   format_test.sh SOURCE_DIR
set -uo pipefail
src=${1:?usage: format_test.sh SOURCE_DIR}
cd "$src"
status=0
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files --cached --others --exclude-standard -- '*.cpp' '*.h' | grep -v '^bpf/')
else
  mapfile -t files < <(find src tests tools examples -name '*.cpp' -o -name '*.h')
fi
[[ ${#files[@]} -gt 0 ]] || { echo "FAIL: no C++ file found under $src"; exit 1; }
bad=$(clang-format --dry-run "${files[@]}" 2>&1 | grep -oE '^[^:]+:[0-9]+:[0-9]+: warning' | cut -d: -f1 | sort -u)
if [[ -n "$bad" ]]; then
  echo "FAIL: not in .clang-format style (run: clang-format -i FILE):"
  echo "$bad"
  status=1
else
  echo "PASS: ${#files[@]} C++ files in .clang-format style"
fi
# Paths that leave the clone: shared/ beside it exists on developer machines
# only, so anything that reads it passes there and fails for a user.
outside=$(grep -rnE '\.\./shared|/work/shared' CMakeLists.txt cmake src bpf tests tools examples .ci 2>/dev/null |
  grep -v '^tests/foundation/format_test.sh:')
if [[ -n "$outside" ]]; then
  echo "FAIL: these reach outside the repository:"
  echo "$outside"
  status=1
else
  echo "PASS: nothing reaches outside the repository"
fi
exit $status
