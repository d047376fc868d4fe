#!/usr/bin/env bash
# A test that cannot run must be reported as skipped, never as passed: every
# root-only test script, run without root, exits 77 (CTest's SKIP_RETURN_CODE)
# and says why on a SKIP: line; with CI=true it fails instead.
#   skip_test.sh SOURCE_DIR BIN_DIR
set -uo pipefail
src=${1:?usage: skip_test.sh SOURCE_DIR BIN_DIR}
bin=${2:?usage: skip_test.sh SOURCE_DIR BIN_DIR}
if [[ $(id -u) -ne 0 ]]; then
  # Dropping to nobody is how this test makes "no root": it needs root itself.
  [[ "${CI:-}" == "true" ]] && { echo "FAIL: CI must run this as root"; exit 1; }
  echo "SKIP: needs root to run the other tests as an unprivileged user"; exit 77
fi
scripts=(
  tests/web/live_page_test.sh tests/web/hostile_page_test.sh
  tests/live/scenarios_test.sh tests/live/snapshot_run_test.sh
  tests/hardening/ending_test.sh tests/hardening/hostile_names_test.sh
  tests/live/owner_cost_test.sh
  tests/hardening/burst_test.sh tests/hardening/privileges_test.sh
  tests/bench/load_test.sh tests/foundation/quickstart_test.sh
  tests/packaging/unit_caps_test.sh tests/packaging/unit_systemd_test.sh
  tests/packaging/kube_pod_test.sh
  tests/live/nat_test.sh
)
status=0
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"; }
for s in "${scripts[@]}"; do
  out=$(cd /tmp && as_nobody env -u CI bash "$src/$s" "$bin" "$src" 2>&1); rc=$?
  if [[ $rc -ne 77 || "$out" != *SKIP:* ]]; then
    echo "FAIL: $s without root: exit $rc (want 77 and a SKIP: line): $out"; status=1
  fi
  out=$(cd /tmp && as_nobody env CI=true bash "$src/$s" "$bin" "$src" 2>&1); rc=$?
  if [[ $rc -eq 0 || $rc -eq 77 ]]; then
    echo "FAIL: $s without root under CI=true: exit $rc (want a failure): $out"; status=1
  fi
done
[[ $status -eq 0 ]] && echo "PASS: ${#scripts[@]} root-only tests skip with 77 without root and fail under CI"
exit $status
