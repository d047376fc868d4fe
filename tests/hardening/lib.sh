# Shared helpers for the process-level hardening tests. Sourced, not run.
# Every test gets: $BIN (build/bin), a scratch dir $T removed at exit, and
# fail/need_root helpers. A test that cannot run says why and exits 77, which
# CTest reports as skipped (SKIP_RETURN_CODE), never as passed; under CI it fails.
set -euo pipefail
BIN=${1:?usage: $0 BUILD_BIN_DIR}
T=$(mktemp -d /tmp/nt-hardening.XXXXXX)
declare -a NT_BG_PIDS=()
# Process groups a test started in a session of their own (setsid): killing
# the setsid process alone would leave the pipeline behind it running.
declare -a NT_BG_PGIDS=()
cleanup() {
  for g in "${NT_BG_PGIDS[@]}"; do kill -9 -- "-$g" 2>/dev/null || true; done
  for p in "${NT_BG_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "PASS: $*"; }

need_root() {
  if [[ $(id -u) -ne 0 ]]; then
    [[ "${CI:-}" == "true" ]] && fail "CI must run the live tests as root"
    echo "SKIP: needs root (CAP_BPF) to load BPF programs"
    exit 77
  fi
}

# Starts nettrace in the background with a ready file; sets NT_PID.
start_nettrace() {
  local out=$1; shift
  local ready=$T/ready.$RANDOM
  "$BIN/nettrace" --ready-file "$ready" "$@" >"$out" 2>>"$T/nettrace.err" &
  NT_PID=$!
  NT_BG_PIDS+=("$NT_PID")
  for _ in $(seq 1 200); do
    [[ -e "$ready" ]] && return 0
    kill -0 "$NT_PID" 2>/dev/null || break
    sleep 0.05
  done
  cat "$T/nettrace.err" >&2
  fail "nettrace did not become ready"
}

# Stops nettrace with SIGINT and checks its exit status is 0.
stop_nettrace() {
  kill -INT "$NT_PID" 2>/dev/null || true
  local rc=0
  wait "$NT_PID" || rc=$?
  [[ $rc -eq 0 ]] || { cat "$T/nettrace.err" >&2; fail "nettrace exited $rc after SIGINT (want 0)"; }
}

# A free TCP port on loopback, different on every call.
# Below the ephemeral range (32768+), so no client socket can hold it.
free_port() { echo $((10000 + (RANDOM % 22000))); }

# Waits until a workload server prints "ready".
wait_ready_line() {
  local log=$1 pid=$2
  for _ in $(seq 1 200); do
    grep -q ready "$log" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.02
  done
  fail "workload server did not become ready: $(cat "$log")"
}
