#!/usr/bin/env bash
# What nettrace --nat costs in user space (issue 16): the same connections
# (a client namespace whose OUTPUT hook DNATs a service address to a server
# in a second namespace) traced with and without --nat; prints nettrace's own
# account of its lookups (time per connection end) and its CPU time per
# connection each way. Figures only, for BENCHMARKS.md; nothing is asserted.
#
#   sudo tools/bench-nat.sh [BUILD_BIN_DIR] [CONNECTIONS]   (default build/bin, 2000)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$here/build/bin}
n=${2:-2000}
[[ $(id -u) -eq 0 ]] || { echo "bench-nat.sh: run as root (network namespaces, BPF)" >&2; exit 77; }
t=$(mktemp -d)
cns=ntbc$$ sns=ntbs$$
a=$(( $$ % 200 + 20 ))
cleanup() {
  [[ -n ${nt:-} ]] && kill "$nt" 2>/dev/null || true
  ip netns del "$cns" 2>/dev/null || true
  ip netns del "$sns" 2>/dev/null || true
  rm -rf "$t"
}
trap cleanup EXIT
"$here/tools/netns-pair.sh" up "$cns" "10.$a.9.1/24" "$sns" "10.$a.9.2/24"
ip -n "$cns" route add "10.96.$a.10/32" dev veth0
ip netns exec "$cns" nft -f - <<EOF
table ip ntbench {
  chain out {
    type nat hook output priority -100;
    ip daddr 10.96.$a.10 tcp dport 80 dnat to 10.$a.9.2:8080
  }
}
EOF
cat >"$t/srv.py" <<'PY'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(128)
print("ready", flush=True)
while True:
    c, _ = s.accept(); c.close()
PY
cat >"$t/cli.py" <<'PY'
import socket, sys
host, n = sys.argv[1], int(sys.argv[2])
for _ in range(n):
    c = socket.create_connection((host, 80)); c.close()
PY
ip netns exec "$sns" python3 "$t/srv.py" >"$t/srv.log" 2>&1 &
srv=$!
for _ in $(seq 100); do grep -q ready "$t/srv.log" && break; sleep 0.05; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
run() {
  local label=$1; shift
  rm -f "$t/ready"
  "$bin/nettrace" --no-snapshot --format json --port 8080,80 --ready-file "$t/ready" "$@" \
    >"$t/out" 2>"$t/err" &
  nt=$!
  for _ in $(seq 200); do [[ -e $t/ready ]] && break; sleep 0.05; done
  local before after
  before=$(cpu_ticks "$nt")
  ip netns exec "$cns" python3 "$t/cli.py" "10.96.$a.10" "$n"
  sleep 0.5
  after=$(cpu_ticks "$nt")
  kill -INT "$nt"; wait "$nt" || true; nt=
  local hz ends
  hz=$(getconf CLK_TCK)
  ends=$(grep -c '"type":"connect"\|"type":"accept"' "$t/out" || true)
  awk -v l="$label" -v d=$((after - before)) -v hz="$hz" -v n="$n" -v e="$ends" 'BEGIN {
    printf "%-12s %d connections, %d ends reported; nettrace CPU %.0f ms = %.1f us per connection\n",
      l, n, e, d * 1000 / hz, d * 1e6 / hz / n }'
  grep 'nettrace: nat:' "$t/err" || true
}
echo "nettrace --nat cost: $n connections through a DNAT in the client's namespace ($(uname -r), $(nproc) CPUs)"
run "plain"
run "--nat" --nat
kill "$srv" 2>/dev/null || true
