#!/usr/bin/env bash
# Regenerates every table of BENCHMARKS.md (printed as markdown on stdout).
#   tools/bench/run.sh [--quick] [BUILD_DIR]
# Load on CPU 0, tracer on CPU 1; configurations interleaved per round; median
# and min over the rounds. Needs root. --quick: 2 rounds of 2 s, 200k burst,
# 500k-line trace (a smoke run, not figures to publish).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
quick=0
[[ "${1:-}" == "--quick" ]] && { quick=1; shift; }
build=${1:-$here/build}
bin=$build/bin
[[ $(id -u) -eq 0 ]] || { echo "run.sh: needs root" >&2; exit 77; }
"$here/tools/install-deps.sh" --bench >&2
for b in nettrace netgraph benchtool; do [[ -x $bin/$b ]] || { echo "run.sh: build first: no $bin/$b" >&2; exit 1; }; done
rounds=5 secs=5 burst=500000 lines=2000000
[[ $quick -eq 1 ]] && { rounds=2 secs=2 burst=200000 lines=500000; }
tmp=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT
tick=$(getconf CLK_TCK)

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

configs=(none)
for b in $("$bin/nettrace" --info 2>/dev/null | awk '$2 == "loads+attaches" { print $1 }'); do configs+=("nettrace-$b"); done
command -v tcplife >/dev/null && configs+=(tcplife)
command -v tcpstates >/dev/null && configs+=(tcpstates)
command -v bpftrace >/dev/null && configs+=(bpftrace)

# One measurement: prints "conn_per_s events cpu_us_per_event hwm_kib expected".
measure() {
  local cfg=$1 out=$tmp/$cfg.out tracer=""
  rm -f "$tmp/ready"
  case $cfg in
    none) ;;
    nettrace-*) taskset -c 1 "$bin/nettrace" --backend "${cfg#nettrace-}" --ready-file "$tmp/ready" >"$out" 2>/dev/null &
                tracer=$!; while [[ ! -e $tmp/ready ]]; do sleep 0.05; done ;;
    tcplife) taskset -c 1 tcplife >"$out" 2>/dev/null & tracer=$!; sleep 2 ;;
    tcpstates) taskset -c 1 tcpstates >"$out" 2>/dev/null & tracer=$!; sleep 2 ;;
    bpftrace) taskset -c 1 bpftrace "$here/tools/bench/established.bt" >"$out" 2>/dev/null & tracer=$!; sleep 3 ;;
  esac
  local t0=0
  [[ -n $tracer ]] && t0=$(cpu_ticks "$tracer")
  taskset -c 0 "$bin/benchtool" load --seconds "$secs" >"$tmp/load"
  sleep 0.5
  local conns rate t1=0 mem=0 events=0
  conns=$(awk '{ print $2 }' "$tmp/load"); rate=$(awk '{ print $6 }' "$tmp/load")
  if [[ -n $tracer ]]; then
    t1=$(cpu_ticks "$tracer"); mem=$(hwm "$tracer")
    kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
    events=$(grep -vc '^#\|^PID\|^Attaching\|^SKADDR\|^Tracing' "$out" || true)
  fi
  local cpu_us=$(( (t1 - t0) * 1000000 / tick ))
  local per=0; [[ $events -gt 0 ]] && per=$(awk -v c="$cpu_us" -v e="$events" 'BEGIN { printf "%.2f", c / e }')
  # Expected: nettrace/bpftrace one line per connection end (2 per connection),
  # tcplife one per socket closed (2), tcpstates every state change (about 10).
  echo "$rate $events $per $mem $((conns * 2))"
}

declare -A rates evs pers mems exps
for r in $(seq 1 "$rounds"); do
  for cfg in "${configs[@]}"; do
    read -r rate ev per mem exp < <(measure "$cfg")
    rates[$cfg]+="$rate "; evs[$cfg]+="$ev "; pers[$cfg]+="$per "; mems[$cfg]+="$mem "; exps[$cfg]+="$exp "
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
minimum() { tr ' ' '\n' | grep . | sort -g | head -1; }
base=$(median <<<"${rates[none]}")
echo "### Connection storm (connect -> accept -> close on loopback, ${secs} s, $rounds rounds)"
echo
echo "| tracer | conn/s median | conn/s min | R (median / no tracer) | tracer CPU µs/event | events written / expected | peak RSS KiB |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for cfg in "${configs[@]}"; do
  m=$(median <<<"${rates[$cfg]}"); mn=$(minimum <<<"${rates[$cfg]}")
  R=$(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.3f", a / b }')
  ratio=$(paste -d/ <(tr ' ' '\n' <<<"${evs[$cfg]}" | grep .) <(tr ' ' '\n' <<<"${exps[$cfg]}" | grep .) |
          awk -F/ '{ if ($2 > 0) s += $1 / $2 } END { printf "%.3f", s / NR }')
  [[ $cfg == none ]] && ratio=- 
  echo "| $cfg | $m | $mn | $R | $(median <<<"${pers[$cfg]}") | $ratio | $(median <<<"${mems[$cfg]}") |"
done
echo

# Burst: exact accounting with a small ring buffer.
port=18001
taskset -c 1 "$bin/nettrace" --port $port --format json --ringbuf-size 16384 --ready-file "$tmp/ready.b" >"$tmp/burst.json" 2>"$tmp/burst.err" &
nt=$!; while [[ ! -e $tmp/ready.b ]]; do sleep 0.05; done
taskset -c 0 "$bin/benchtool" load --count "$burst" --threads 2 --port $port >"$tmp/bload"
sleep 1; kill -INT $nt; wait $nt || true
made=$(awk '{ print $2 * 2 }' "$tmp/bload")
written=$(grep -c '"type":"\(connect\|accept\)"' "$tmp/burst.json" || true)
lost=$( { grep -o '"count":[0-9]*' "$tmp/burst.json" || true; } | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
echo "### Burst ($burst connections as fast as possible, 16 KiB ring)"
echo
echo "| events expected | written | reported lost | written + lost == expected |"
echo "|---:|---:|---:|---|"
echo "| $made | $written | $lost | $([[ $((written + lost)) -eq $made ]] && echo yes || echo NO) |"
echo

# Delivery latency at a fixed rate.
port=18002
( taskset -c 1 "$bin/nettrace" --port $port --format json --ready-file "$tmp/ready.l" 2>/dev/null | "$bin/benchtool" latency >"$tmp/lat" ) &
pl=$!; while [[ ! -e $tmp/ready.l ]]; do sleep 0.05; done
taskset -c 0 "$bin/benchtool" load --seconds "$secs" --rate 10000 --threads 2 --port $port >"$tmp/lload"
sleep 0.5; pkill -INT -f "nettrace --port $port" || true; wait $pl || true
echo "### Delivery latency at 10,000 connections/s (kernel event -> line read by a consumer)"
echo
echo '```'
cat "$tmp/lat" "$tmp/lload"
echo '```'
echo

# netgraph throughput against the line-splitting limit (wc -l).
"$bin/benchtool" tracegen --lines "$lines" --procs 64 >"$tmp/trace"
size=$(stat -c %s "$tmp/trace")
tm() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }'; }
twc=$(tm wc -l "$tmp/trace")
/usr/bin/time -f "%e %M" -o "$tmp/ngtime" "$bin/netgraph" "$tmp/trace" -o "$tmp/graph.dot"
read -r tng rss <"$tmp/ngtime"
tdot=$(tm dot -Tsvg "$tmp/graph.dot")
echo "### netgraph on a synthetic $lines-line trace ($((size / 1000000)) MB; 64 client processes on 200 addresses, 6 servers, 1 in 4 IPv6)"
echo
echo "| step | seconds | GB/s | lines/s | peak RSS KiB |"
echo "|---|---:|---:|---:|---:|"
for row in "wc -l:$twc:-" "netgraph trace -> DOT:$tng:$rss"; do
  IFS=: read -r name t mem <<<"$row"
  echo "| $name | $t | $(awk -v b="$size" -v t="$t" 'BEGIN { printf "%.2f", b / t / 1e9 }') | $(awk -v l="$lines" -v t="$t" 'BEGIN { printf "%.0f", l / t }') | $mem |"
done
echo "| dot -Tsvg on netgraph's output ($(grep -c -- '->' "$tmp/graph.dot" || true) edges) | $tdot | - | - | - |"
