# Shared by the packaging tests. Sourced, not run. Builds the .deb with
# tools/package.sh and extracts it into $ROOT (a scratch tree, no dpkg
# database touched); $DEB is the package.
set -euo pipefail
BUILD=${1:?usage: $0 BUILD_DIR}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T=$(mktemp -d /tmp/nt-packaging.XXXXXX)
declare -a NT_BG_PGIDS=()
cleanup() {
  for g in "${NT_BG_PGIDS[@]}"; do kill -9 -- "-$g" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "PASS: $*"; }
skip() {
  [[ "${CI:-}" == "true" ]] && fail "CI cannot skip: $*"
  echo "SKIP: $*"
  exit 77
}

build_and_extract() {
  for tool in dpkg-deb dpkg-shlibdeps cpack; do
    command -v "$tool" >/dev/null || skip "$tool missing: run tools/install-deps.sh"
  done
  DEB=$("$SRC/tools/package.sh" "$BUILD" | tail -1)
  [[ -f $DEB ]] || fail "tools/package.sh printed no package ($DEB)"
  ROOT=$T/root
  mkdir -p "$ROOT"
  dpkg-deb -x "$DEB" "$ROOT"
  UNIT=$ROOT/usr/lib/systemd/system/nettrace.service
}
