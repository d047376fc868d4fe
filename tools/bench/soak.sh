#!/usr/bin/env bash
# Soak (a benchmark, not a test): nettrace for a long time at a steady
# connection rate on loopback; samples its RSS and the in-flight map sizes to
# show they stay flat. Prints a table (markdown) on stdout.
#
#   tools/bench/soak.sh [BUILD_DIR] [SECONDS] [CONNS_PER_BATCH]   (default build 600 100)
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$here/build}
secs=${2:-600}
batch=${3:-100}
bin=$build/bin
[[ $(id -u) -eq 0 ]] || { echo "soak.sh: needs root" >&2; exit 77; }
port=17001
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

"$bin/nettrace" --ready-file "$tmp/ready" --port $port -d "$secs" >"$tmp/out" 2>"$tmp/err" &
nt=$!
while [[ ! -e "$tmp/ready" ]]; do sleep 0.05; done
"$bin/workload" serve --listen 127.0.0.1:$port --comm soak-srv --count 0 >/dev/null &
sleep 0.2
# Steady load: a batch of connects every 100 ms (about 10 x batch conn/s).
( while kill -0 $nt 2>/dev/null; do "$bin/workload" connect --to 127.0.0.1:$port --comm soak-cli --count "$batch" >/dev/null 2>&1 || true; sleep 0.1; done ) &

map_entries() {
  bpftool map dump name "$1" 2>/dev/null | grep -c '"key"\|^key' || true
}
echo "| t (s) | nettrace RSS (KiB) | VmHWM (KiB) | connecting map entries | lines written |"
echo "|---:|---:|---:|---:|---:|"
start=$SECONDS
step=$(( secs / 10 )); [[ $step -ge 1 ]] || step=1
while kill -0 $nt 2>/dev/null; do
  rss=$(awk '/^VmRSS:/ { print $2 }' /proc/$nt/status 2>/dev/null || echo -)
  hwm=$(awk '/^VmHWM:/ { print $2 }' /proc/$nt/status 2>/dev/null || echo -)
  [[ -n "$rss" ]] || break
  echo "| $((SECONDS - start)) | $rss | $hwm | $(map_entries connecting) | $(wc -l <"$tmp/out") |"
  sleep "$step"
done
wait $nt || true
echo
echo "nettrace: $(tail -1 "$tmp/err")"
