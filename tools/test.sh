#!/usr/bin/env bash
# The whole test suite, from a fresh clone: install missing dependencies, build,
# run every CTest test (unit, live BPF, qemu kernel matrix), then the unit and
# live tests again under AddressSanitizer + UBSan, then fuzz the parsers for a
# bounded time. Exits non-zero on any failure.
#
#   tools/test.sh                 everything (what CI runs)
#   NT_TEST_FAST=1 tools/test.sh  skip the VM matrix, the sanitizer pass and fuzzing
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
jobs=$(nproc 2>/dev/null || echo 2)

if [[ $(id -u) -ne 0 ]]; then
  echo "test.sh: the live BPF tests and the kernel matrix need root: run as root (sudo $0)" >&2
  exit 77
fi

tools/install-deps.sh || { echo "test.sh: installing dependencies failed (see above)" >&2; exit 2; }

total_pass=0
total_fail=0
total_skip=0

# Runs ctest in a build dir and adds its counts to the totals. ctest's own
# summary line stays in the output; the counts are read back from it.
run_ctest() {
  local dir=$1; shift
  local log
  log=$(mktemp)
  ctest --test-dir "$dir" --output-on-failure --no-tests=error "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  # A skipped test is not a pass: ctest counts it among "passed", so take it out.
  local skipped
  skipped=$(grep -cE '^ *[0-9]+ - .*\(Skipped\)$' "$log" || true)
  rm -f "$log"
  if [[ -z "$line" ]]; then
    echo "test.sh: ctest in $dir printed no summary (exit $rc)" >&2
    total_fail=$((total_fail + 1))
    return
  fi
  local failed all
  failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  all=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
  total_pass=$((total_pass + all - failed - skipped))
  total_skip=$((total_skip + skipped))
  total_fail=$((total_fail + failed))
  if [[ $rc -ne 0 && $failed -eq 0 ]]; then
    total_fail=$((total_fail + 1))
  fi
}

build() {
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null &&
    cmake --build "$dir" -j"$jobs"
}

echo "== build (RelWithDebInfo) =="
if ! build build; then
  echo "test.sh: build failed (see the compiler output above)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

echo "== tests: unit, live, vm =="
if [[ -n "${NT_TEST_FAST:-}" ]]; then
  run_ctest build -LE vm
else
  run_ctest build
fi

if [[ -z "${NT_TEST_FAST:-}" ]]; then
  echo "== build (ASan+UBSan) =="
  if build build-asan -DNT_SANITIZE=ON; then
    echo "== tests under ASan+UBSan: unit, live =="
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      LSAN_OPTIONS=suppressions=$here/tests/lsan.supp \
      run_ctest build-asan -LE 'vm|fuzz'
  else
    echo "test.sh: sanitizer build failed" >&2
    total_fail=$((total_fail + 1))
  fi
fi

if [[ -z "${NT_TEST_FAST:-}" ]]; then
  # libFuzzer needs clang; only the parser library and the fuzz targets are built.
  echo "== build (clang + libFuzzer) =="
  if cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNT_FUZZ=ON \
       -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null &&
     cmake --build build-fuzz -j"$jobs" --target fuzz_all; then
    echo "== fuzzing the parsers (bounded runs) =="
    run_ctest build-fuzz -L fuzz
  else
    echo "test.sh: fuzz build failed" >&2
    total_fail=$((total_fail + 1))
  fi
fi

echo "suite: $total_pass passed, $total_fail failed, $total_skip skipped"
[[ $total_fail -eq 0 ]]
