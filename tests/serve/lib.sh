# Helpers of the --serve tests, on top of tests/hardening/lib.sh. Sourced.
source "$(dirname "${BASH_SOURCE[0]}")/../hardening/lib.sh"

need_tools() {
  local t
  for t in "$@"; do
    if ! command -v "$t" >/dev/null; then
      [[ "${CI:-}" == "true" ]] && fail "$t is missing under CI (tools/install-deps.sh installs it)"
      echo "SKIP: $t is not installed (tools/install-deps.sh installs it)"
      exit 77
    fi
  done
}

# A loopback port nobody listens on now (the hardening free_port range).
free_listen_port() {
  local p
  for _ in $(seq 1 50); do
    p=$(free_port)
    ss -Htln "sport = :$p" | grep -q . || { echo "$p"; return 0; }
  done
  fail "no free port"
}

# Starts nettrace --serve in the background; waits for its ready file and for
# /healthz. Sets SERVE_PID. Usage: start_serve NAME PORT [nettrace args...]
start_serve() {
  local name=$1 port=$2; shift 2
  local ready=$T/$name.ready
  "$BIN/nettrace" --serve "127.0.0.1:$port" --ready-file "$ready" "$@" >"$T/$name.out" 2>"$T/$name.err" &
  SERVE_PID=$!
  NT_BG_PIDS+=("$SERVE_PID")
  for _ in $(seq 1 200); do
    [[ -e "$ready" ]] && curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$SERVE_PID" 2>/dev/null || break
    sleep 0.05
  done
  cat "$T/$name.err" >&2
  fail "nettrace --serve ($name) did not become ready"
}

# Stops it with SIGINT: exit status 0.
stop_serve() {
  local pid=$1 name=$2
  kill -INT "$pid" 2>/dev/null || true
  local rc=0
  wait "$pid" || rc=$?
  [[ $rc -eq 0 ]] || { cat "$T/$name.err" >&2; fail "nettrace --serve ($name) exited $rc after SIGINT"; }
}

# JSON lines (the --format json records) to "type local remote pid comm" lines.
tuples() {
  jq -r '[.type, "\(.local_ip):\(.local_port)", "\(.remote_ip):\(.remote_port)", .pid, .comm] | join(" ")'
}

# The same from workload -v output ("conn TID LOCAL REMOTE", "accepted LOCAL REMOTE").
workload_tuples() {
  awk -v pid="$2" -v comm="$3" '
    $1 == "conn"     { print "connect " $3 " " $4 " " pid " " comm }
    $1 == "accepted" { print "accept " $2 " " $3 " " pid " " comm }' "$1"
}

same_lines() {
  local what=$1 want=$2 got=$3
  sort "$want" >"$want.s"; sort "$got" >"$got.s"
  [[ -s "$want.s" ]] || fail "$what: nothing expected (the workload reported nothing)"
  if ! cmp -s "$want.s" "$got.s"; then
    echo "--- expected (from the test processes)  +++ nettrace --serve" >&2
    diff "$want.s" "$got.s" >&2 || true
    fail "$what: differs"
  fi
}

# Two "hosts" for the fleet tests: network namespaces $nsa (SUBNET.1) and $nsb
# (SUBNET.2) on a veth pair, removed at exit, and one nettrace --serve per
# namespace (filtered by --netns) on free loopback ports $pa and $pb
# (SERVE_A, SERVE_B: their pids). Usage: serving_hosts NAME SUBNET (10.236.0)
serving_hosts() {
  nsa=$1-a-$$ nsb=$1-b-$$
  trap 'ip netns del $nsa 2>/dev/null; ip netns del $nsb 2>/dev/null; cleanup' EXIT
  "$(dirname "${BASH_SOURCE[0]}")/../../tools/netns-pair.sh" up "$nsa" "$2.1/24" "$nsb" "$2.2/24"
  local ino_a ino_b
  ino_a=$(stat -L -c %i "/run/netns/$nsa")
  ino_b=$(stat -L -c %i "/run/netns/$nsb")
  pa=$(free_listen_port)
  pb=$(free_listen_port)
  while [[ $pb == "$pa" ]]; do pb=$(free_listen_port); done
  start_serve a "$pa" --netns "$ino_a"
  SERVE_A=$SERVE_PID
  start_serve b "$pb" --netns "$ino_b"
  SERVE_B=$SERVE_PID
}

# A real Prometheus on a free loopback port $pp (not $pa or $pb), with a
# temporary data directory, scraping every second; SCRAPE_CONFIGS is the
# YAML under scrape_configs:. PROM_PID: its pid (also in NT_BG_PIDS).
# Usage: start_prometheus SCRAPE_CONFIGS
start_prometheus() {
  pp=$(free_listen_port)
  while [[ $pp == "$pa" || $pp == "$pb" ]]; do pp=$(free_listen_port); done
  {
    printf 'global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n'
    printf '%s\n' "$1"
  } >"$T/prometheus.yml"
  if command -v promtool >/dev/null; then
    promtool check config "$T/prometheus.yml" >/dev/null || fail "promtool rejects the test's config"
  fi
  prometheus --config.file="$T/prometheus.yml" --storage.tsdb.path="$T/data" \
    --web.listen-address="127.0.0.1:$pp" >"$T/prometheus.log" 2>&1 &
  PROM_PID=$!
  NT_BG_PIDS+=("$PROM_PID")
}
