#!/usr/bin/env bash
# Regenerates every table of BENCHMARKS.md (printed as markdown on stdout;
# progress on stderr). Needs root.
#
#   tools/bench/run.sh [--quick] [--soak SECONDS] [--netgraph-only | --shapes-only]
#                      [--extra-nettrace NAME=PATH]... [BUILD_DIR]
#
# --netgraph-only prints only the netgraph table (a minute, no BPF, no
# network namespaces). NETGRAPH_BASELINE=/path/to/netgraph in the
# environment also times that binary (an older build) on the same traces in
# the same run, beside this build's.
# --soak SECONDS also runs tools/bench/soak.sh for that long at ~1,850
# connections/s and appends its table (BENCHMARKS.md's soak used 600).
# --shapes-only prints only the storm's shapes side by side, their tables and
# what each tracer adds to a system call (about 15 min).
# BENCH_ONLY="none TRACER..." in the environment measures only those tracers.
# --extra-nettrace NAME=PATH measures another nettrace binary (a scratch
# build of a prototype, say) as tracer NAME in every storm shape, with
# --backend tracepoint, beside the others.
#
# Storms: the load (benchtool load) runs on CPU 0 and the tracer on CPU 1.
# Every configuration runs once per round; the order is reversed every other
# round (A B C, C B A, ...) so that no configuration always follows the same
# one; median and min over the rounds. The storm runs in three shapes (two
# threads, one thread, one thread with 1 KiB each way per connection), every
# tracer in each, and a table puts their R and CPU per connection side by
# side. --quick: 2 rounds of 2 s, a 200k burst and smaller traces (a smoke
# run, not figures to publish).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
quick=0 soak=0 ngonly=0 shapesonly=0 baseline=${NETGRAPH_BASELINE:-}
declare -A extra=() # tracer name -> another nettrace binary
extra_names=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) quick=1; shift ;;
    --soak) soak=${2:?--soak needs a number of seconds}; shift 2 ;;
    --netgraph-only) ngonly=1; shift ;;
    --shapes-only) shapesonly=1; shift ;;
    --extra-nettrace)
      [[ ${2:-} =~ ^([A-Za-z0-9_.-]+)=(.+)$ && -x ${BASH_REMATCH[2]} ]] ||
        { echo "run.sh: --extra-nettrace wants NAME=PATH, PATH an executable nettrace (got '${2:-}')" >&2; exit 64; }
      extra[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}; extra_names+=("${BASH_REMATCH[1]}"); shift 2 ;;
    -*) echo "run.sh: unknown option $1 (use --quick, --soak SECONDS, --netgraph-only, --shapes-only, --extra-nettrace NAME=PATH, BUILD_DIR)" >&2; exit 64 ;;
    *) break ;;
  esac
done
build=${1:-$here/build}
bin=$build/bin
[[ -z $baseline || -x $baseline ]] || { echo "run.sh: NETGRAPH_BASELINE=$baseline is not an executable" >&2; exit 64; }
[[ $(id -u) -eq 0 ]] || { echo "run.sh: needs root (the tracers load BPF programs)" >&2; exit 77; }
"$here/tools/install-deps.sh" --bench >&2
for b in nettrace netgraph benchtool; do
  [[ -x $bin/$b ]] || { echo "run.sh: no $bin/$b: build first (cmake -S . -B build && cmake --build build)" >&2; exit 1; }
done
# The main storm gets more rounds than the variants: run-to-run noise on this
# kind of VM is about +-4% (measured: six back-to-back runs without a tracer),
# as large as the margin R is judged by.
main_rounds=7 rounds=5 secs=5 burst=500000 lines=2000000
[[ $quick -eq 1 ]] && { main_rounds=2 rounds=2 secs=2 burst=200000 lines=500000; }
tmp=$(mktemp -d)
srv_ns=nt-bench-srv cli_ns=nt-bench-cli
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  [[ $ngonly -eq 1 ]] || "$here/tools/netns-pair.sh" down $srv_ns $cli_ns
  rm -rf "$tmp"
}
trap cleanup EXIT
tick=$(getconf CLK_TCK)
log() { echo "run.sh: $*" >&2; }

# Two "hosts" for the cross-namespace storm: a veth pair, addresses of our own.
# (Not for --netgraph-only: it needs none, and must not take down the pair of
# a storm running at the same time.)
if [[ $ngonly -eq 0 ]]; then
"$here/tools/netns-pair.sh" up $srv_ns 10.204.0.1/24 $cli_ns 10.204.0.2/24
# On loopback the kernel reuses ports in TIME_WAIT for new connects
# (tcp_tw_reuse=2, its default, means loopback only); across the veth it
# would not, and after 28k connects the storm would measure port exhaustion.
ip netns exec $cli_ns sysctl -qw net.ipv4.tcp_tw_reuse=1
fi

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# Busy time of CPU 0 (user, nice, system, irq, softirq), in ticks: where the
# load runs, and so where in-kernel tracing costs land.
cpu0_busy() { awk '$1 == "cpu0" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

configs=(none)
for b in $("$bin/nettrace" --info 2>/dev/null | awk '$2 == "loads+attaches" { print $1 }'); do configs+=("nettrace-$b"); done
configs+=("${extra_names[@]}")
command -v tcplife >/dev/null && configs+=(tcplife)
command -v tcpstates >/dev/null && configs+=(tcpstates)
command -v bpftrace >/dev/null && configs+=(bpftrace)
# BENCH_ONLY="none nettrace-tracepoint tcplife ..." in the environment keeps
# only those tracers (and the extra ones), for a shorter run of the ones compared.
if [[ -n ${BENCH_ONLY:-} ]]; then
  kept=()
  for c in "${configs[@]}"; do [[ " $BENCH_ONLY ${extra_names[*]} " == *" $c "* ]] && kept+=("$c"); done
  configs=("${kept[@]}")
fi

# Starts a tracer on CPU 1 and waits until it is attached; sets $tracer.
start_tracer() {
  local cfg=$1 out=$2 t0 i
  tracer=""
  rm -f "$tmp/ready"
  case $cfg in
    none) return ;;
    nettrace-*) taskset -c 1 "$bin/nettrace" --backend "${cfg#nettrace-}" --ready-file "$tmp/ready" >"$out" 2>"$out.err" & ;;
    tcplife) taskset -c 1 tcplife >"$out" 2>"$out.err" & ;;
    tcpstates) taskset -c 1 tcpstates >"$out" 2>"$out.err" & ;;
    bpftrace) taskset -c 1 bpftrace "$here/tools/bench/established.bt" >"$out" 2>"$out.err" & ;;
    *) taskset -c 1 "${extra[$cfg]}" --backend tracepoint --ready-file "$tmp/ready" >"$out" 2>"$out.err" & ;;
  esac
  tracer=$!
  if [[ $cfg == nettrace-* || -n ${extra[$cfg]:-} ]]; then
    for i in $(seq 1 200); do
      [[ -e $tmp/ready ]] && return
      kill -0 "$tracer" 2>/dev/null || break
      sleep 0.05
    done
    log "$cfg did not start: $(cat "$out.err")"
    exit 1
  fi
  # The peers print a header once attached; give them time to attach too.
  for i in $(seq 1 100); do
    [[ -s $out ]] && break
    sleep 0.05
  done
  sleep 1
}

# Other tracers on the machine (another user's nettrace, say) tax our storm
# too, with or without our tracer: counted, so a table can say so.
other_tracers() {
  ps -eo pid=,comm= | awk -v me="${tracer:-0}" '$2 ~ /^(nettrace|bpftrace|tcplife|tcpstates)$/ && $1 != me { n++ } END { print n + 0 }'
}

# One storm measurement. Prints: conn_per_s events tracer_cpu_us_per_event
# tracer_hwm_kib expected_events cpu0_us_per_conn reported_lost load_us_per_conn
# other_tracers
measure() {
  local cfg=$1; shift
  local out=$tmp/$cfg.out
  start_tracer "$cfg" "$out"
  local t0=0 b0 b1
  [[ -n $tracer ]] && t0=$(cpu_ticks "$tracer")
  b0=$(cpu0_busy)
  local others; others=$(other_tracers)
  taskset -c 0 "$bin/benchtool" load --seconds "$secs" "$@" >"$tmp/load"
  b1=$(cpu0_busy)
  others=$((others + $(other_tracers)))
  sleep 0.5
  local conns rate t1=0 mem=0 events=0 lost=-
  conns=$(awk '{ print $2 }' "$tmp/load"); rate=$(awk '{ print $6 }' "$tmp/load")
  local failed; failed=$(awk '{ print $10 }' "$tmp/load")
  # The load's own CPU time (user + system, which includes the softirq work
  # and the BPF programs run on its behalf) per connection: unlike CPU 0's
  # busy time, other processes that share CPU 0 do not count in it.
  local lc; lc=$(awk '{ printf "%.2f", $8 * 1e6 / $2 }' "$tmp/load")
  [[ ${failed:-0} -eq 0 ]] || log "$cfg: $failed connects failed during the storm (the figures measure that, not tracing)"
  if [[ -n $tracer ]]; then
    t1=$(cpu_ticks "$tracer"); mem=$(hwm "$tracer")
    kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
    events=$(grep -vc '^#\|^PID\|^Attaching\|^SKADDR\|^Tracing\|^TIME\|^$' "$out" || true)
    if [[ $cfg == nettrace-* || -n ${extra[$cfg]:-} ]]; then
      lost=$(sed -nE 's/^nettrace: .*, ([0-9]+) lost \(.*/\1/p' "$out.err")
    fi
  fi
  local cpu_us=$(( (t1 - t0) * 1000000 / tick ))
  local per=0; [[ $events -gt 0 ]] && per=$(awk -v c="$cpu_us" -v e="$events" 'BEGIN { printf "%.2f", c / e }')
  local c0; c0=$(awk -v b=$((b1 - b0)) -v t="$tick" -v n="$conns" 'BEGIN { printf "%.2f", b * 1e6 / t / n }')
  # Expected: nettrace/bpftrace one line per connection end (2 per
  # connection), tcplife one per socket closed (2), tcpstates every state
  # change (about 10).
  echo "$rate $events $per $mem $((conns * 2)) $c0 ${lost:--} $lc $others"
}

median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
minimum() { tr ' ' '\n' | grep . | sort -g | head -1; }
maximum() { tr ' ' '\n' | grep . | sort -g | tail -1; }

# Runs every configuration of $@ (the first must be "none") for $rounds
# rounds with load options $load_opts, then prints the markdown table.
# Each storm's R, R from CPU and load CPU per connection added (medians)
# are kept in sum_r / sum_rc / sum_cpu under "$shape|$cfg" for the
# side-by-side table.
declare -A rates evs pers mems exps cpu0s losts lcpus sum_r sum_rc sum_cpu
shape=""
storm() {
  local title=$1; shift
  local cfgs=("$@") r cfg order runs=0 shared=0
  for cfg in "${cfgs[@]}"; do rates[$cfg]=""; evs[$cfg]=""; pers[$cfg]=""; mems[$cfg]=""; exps[$cfg]=""; cpu0s[$cfg]=""; losts[$cfg]=""; lcpus[$cfg]=""; done
  for r in $(seq 1 "$rounds"); do
    order=("${cfgs[@]}")
    if (( r % 2 == 0 )); then
      order=(); for ((i = ${#cfgs[@]} - 1; i >= 0; i--)); do order+=("${cfgs[i]}"); done
    fi
    for cfg in "${order[@]}"; do
      log "$title: round $r/$rounds: $cfg"
      read -r rate ev per mem exp c0 lost lc others < <(measure "$cfg" $load_opts)
      runs=$((runs + 1)); [[ $others -gt 0 ]] && shared=$((shared + 1))
      rates[$cfg]+="$rate "; evs[$cfg]+="$ev "; pers[$cfg]+="$per "; mems[$cfg]+="$mem "; exps[$cfg]+="$exp "; lcpus[$cfg]+="$lc "
      cpu0s[$cfg]+="$c0 "; [[ $lost != - ]] && losts[$cfg]+="$lost "
    done
  done
  local base base_cpu base_lc
  base=$(median <<<"${rates[none]}"); base_cpu=$(median <<<"${cpu0s[none]}"); base_lc=$(median <<<"${lcpus[none]}")
  echo "### $title"
  echo
  echo "| tracer | conn/s median | conn/s min | R (median / no tracer) | CPU 0 µs/conn (added) | load CPU µs/conn (added) | tracer CPU µs/event | events written / expected | events lost (reported) | peak RSS KiB |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for cfg in "${cfgs[@]}"; do
    local m mn R ratio c0 added lost lc ladded
    m=$(median <<<"${rates[$cfg]}"); mn=$(minimum <<<"${rates[$cfg]}")
    R=$(awk -v a="$m" -v b="$base" 'BEGIN { printf "%.3f", a / b }')
    ratio=$(paste -d/ <(tr ' ' '\n' <<<"${evs[$cfg]}" | grep .) <(tr ' ' '\n' <<<"${exps[$cfg]}" | grep .) |
            awk -F/ '$2 > 0 { r = $1 / $2; if (NR == 1 || r < lo) lo = r; if (NR == 1 || r > hi) hi = r }
                     END { if (lo == hi) printf "%.3f", lo; else printf "%.3f-%.3f", lo, hi }')
    c0=$(median <<<"${cpu0s[$cfg]}")
    added=$(awk -v a="$c0" -v b="$base_cpu" 'BEGIN { printf "%+.2f", a - b }')
    lc=$(median <<<"${lcpus[$cfg]}")
    ladded=$(awk -v a="$lc" -v b="$base_lc" 'BEGIN { printf "%+.2f", a - b }')
    lost=-; [[ -n ${losts[$cfg]} ]] && lost=$(maximum <<<"${losts[$cfg]}")
    [[ -n $shape ]] && { sum_r[$shape|$cfg]=$R; sum_cpu[$shape|$cfg]=$ladded
                         sum_rc[$shape|$cfg]=$(awk -v a="$base_lc" -v b="$lc" 'BEGIN { printf "%.3f", a / b }'); }
    if [[ $cfg == none ]]; then
      [[ -n $shape ]] && { sum_r[$shape|$cfg]=$m; sum_cpu[$shape|$cfg]=$lc; }
      echo "| none | $m | $mn | 1.000 | $c0 | $lc | - | - | - | - |"
    else
      echo "| $cfg | $m | $mn | $R | $c0 ($added) | $lc ($ladded) | $(median <<<"${pers[$cfg]}") | $ratio | $lost | $(median <<<"${mems[$cfg]}") |"
    fi
  done
  echo
  echo "_$shared of $runs runs had another tracer (nettrace, bpftrace, tcplife, tcpstates) running on the machine._"
  echo
}

if [[ $ngonly -eq 0 ]]; then
echo "_Run: $(date -u '+%Y-%m-%d %H:%M UTC'), kernel $(uname -r), $(nproc) CPUs; storms of $secs s, $main_rounds rounds for the main one, $rounds for the variants._"
echo
# The storm's shapes, every tracer in each. The two-thread shape is the
# main one (more rounds); the tables go to a file so that the side-by-side
# summary can come first.
shapes=("two threads" "one thread" "1 KiB each way")
# The syscall-heavy shape runs in one thread: each read then finds its data
# there, so no thread sleeps and the figures are the cost of the calls. With
# two threads ping-ponging on one CPU, how often a read sleeps (and so the
# CPU per connection) swings with the timing any tracer perturbs: the peers
# "added" 56 to 107 µs per connection there, against 14 to 38 without the
# I/O (run of 2026-12-01).
declare -A shape_opts=(["two threads"]="" ["one thread"]="--one-thread" ["1 KiB each way"]="--one-thread --io 1024 --chunk 256")
declare -A shape_titles=(
  ["two threads"]="Connection storm, two threads (IPv4 on loopback, FIN close, 1 connecting thread + 1 acceptor)"
  ["one thread"]="Connection storm, one thread (connect, accept, close in the same thread)"
  ["1 KiB each way"]="Connection storm, syscall-heavy (one thread; each connection carries 1 KiB each way in 256 B writes and reads)")
variant_rounds=$rounds
for shape in "${shapes[@]}"; do
  rounds=$variant_rounds; [[ $shape == "two threads" ]] && rounds=$main_rounds
  load_opts=${shape_opts[$shape]}
  storm "${shape_titles[$shape]}" "${configs[@]}" >>"$tmp/shapes.md"
done
shape="" rounds=$variant_rounds load_opts=""
echo "### The storm's shapes side by side"
echo
echo "R: conn/s with the tracer / without (medians). R (CPU): the load's CPU time per connection without"
echo "the tracer / with it, which other work on the machine disturbs less. CPU added: the load's CPU"
echo "µs per connection with the tracer minus without."
echo
hdr="| tracer |" sep="|---|"
for s in "${shapes[@]}"; do hdr+=" $s: R | R (CPU) | CPU added |"; sep+="---:|---:|---:|"; done
echo "$hdr"; echo "$sep"
row="| none (conn/s; load CPU µs/conn) |"
for s in "${shapes[@]}"; do row+=" ${sum_r[$s|none]} | - | ${sum_cpu[$s|none]} |"; done
echo "$row"
for cfg in "${configs[@]}"; do
  [[ $cfg == none ]] && continue
  row="| $cfg |"
  for s in "${shapes[@]}"; do row+=" ${sum_r[$s|$cfg]} | ${sum_rc[$s|$cfg]} | ${sum_cpu[$s|$cfg]} µs |"; done
  echo "$row"
done
echo
cat "$tmp/shapes.md"

# What a tracer costs every other system call on the machine: getppid() in a
# loop on CPU 0, timed by the thread's own CPU clock, with each tracer
# attached and without (a syscall tracepoint sends every system call of every
# task through the kernel's slow path).
declare -A sysns=()
for r in $(seq 1 "$rounds"); do
  for cfg in "${configs[@]}"; do
    log "system call cost: round $r/$rounds: $cfg"
    start_tracer "$cfg" "$tmp/sys.out"
    sysns[$cfg]+="$(taskset -c 0 "$bin/benchtool" syscalls --count 5000000 | awk '{ print $4 }') "
    [[ -n $tracer ]] && { kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true; }
  done
done
echo "### What each tracer adds to every system call (benchtool syscalls: 5 M getppid() on CPU 0, thread CPU time, $rounds rounds)"
echo
echo "| tracer | ns per call, median | min | added (median) |"
echo "|---|---:|---:|---:|"
base_ns=$(median <<<"${sysns[none]}")
for cfg in "${configs[@]}"; do
  m=$(median <<<"${sysns[$cfg]}")
  echo "| $cfg | $m | $(minimum <<<"${sysns[$cfg]}") | $(awk -v a="$m" -v b="$base_ns" 'BEGIN { printf "%+.1f", a - b }') |"
done
echo
[[ $shapesonly -eq 1 ]] && exit 0

# The same storm in other shapes, nettrace against no tracer.
nt_configs=(none); for c in "${configs[@]}"; do [[ $c == nettrace-* ]] && nt_configs+=("$c"); done
load_opts="--v6"
storm "Variant: IPv6 on loopback" "${nt_configs[@]}"
load_opts="--rst"
storm "Variant: RST close (SO_LINGER 0)" "${nt_configs[@]}"
load_opts="--server-netns $srv_ns --client-netns $cli_ns --addr 10.204.0.1"
storm "Variant: two network namespaces over veth (10.204.0.2 -> 10.204.0.1)" "${nt_configs[@]}"
load_opts=""

# Where nettrace's in-kernel time goes, per program (kernel.bpf_stats_enabled
# makes the kernel time every run; that timing itself adds some tens of ns per
# run, so these figures are an upper bound). Only the tracer's own programs
# (the prog_id of its file descriptors) count: another tracer on the machine
# runs its programs on our storm too.
stats_before=$(sysctl -n kernel.bpf_stats_enabled)
for cfg in "${nt_configs[@]}" "${extra_names[@]}"; do
  [[ $cfg == none ]] && continue
  log "BPF run time per program: $cfg"
  sysctl -qw kernel.bpf_stats_enabled=1
  start_tracer "$cfg" "$tmp/stats.out"
  taskset -c 0 "$bin/benchtool" load --seconds "$secs" >"$tmp/load"
  conns=$(awk '{ print $2 }' "$tmp/load")
  ids=$(grep -h '^prog_id:' /proc/"$tracer"/fdinfo/* 2>/dev/null | awk '{ print $2 }' | sort -u | paste -sd,)
  echo "### BPF run time per connection, $cfg ($conns connections; kernel.bpf_stats_enabled)"
  echo
  echo "| program | runs per connection | ns per run | ns per connection |"
  echo "|---|---:|---:|---:|"
  bpftool -j prog show | python3 -c '
import json, sys
conns = int(sys.argv[1]); ids = {int(i) for i in sys.argv[2].split(",") if i}; total = 0
for p in json.load(sys.stdin):
    name = p.get("name", "")
    if p["id"] not in ids or not p.get("run_cnt"):
        continue
    t, c = p.get("run_time_ns", 0), p["run_cnt"]; total += t
    print(f"| {name} | {c / conns:.1f} | {t / c:.0f} | {t / conns:.0f} |")
print(f"| all | | | {total / conns:.0f} |")' "$conns" "$ids"
  echo
  kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
  sysctl -qw kernel.bpf_stats_enabled="$stats_before"
done

# Burst: exact accounting with a small ring buffer.
log "burst of $burst connections"
port=18001
taskset -c 1 "$bin/nettrace" --port $port --format json --ringbuf-size 16384 --ready-file "$tmp/ready.b" >"$tmp/burst.json" 2>"$tmp/burst.err" &
nt=$!; while [[ ! -e $tmp/ready.b ]]; do sleep 0.05; done
taskset -c 0 "$bin/benchtool" load --count "$burst" --threads 2 --port $port >"$tmp/bload"
sleep 1; kill -INT $nt; wait $nt || true
made=$(awk '{ print $2 * 2 }' "$tmp/bload")
written=$(grep -c '"type":"\(connect\|accept\)"' "$tmp/burst.json" || true)
lost=$( { grep -o '"count":[0-9]*' "$tmp/burst.json" || true; } | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
missed=$(sed -nE 's/.*skipped ([0-9]+) runs.*/\1/p' "$tmp/burst.err"); missed=${missed:-0}
echo "### Burst ($burst connections as fast as possible, 2 threads, 16 KiB ring)"
echo
echo "| events expected | written | reported lost | hook runs the kernel skipped | written + lost == expected |"
echo "|---:|---:|---:|---:|---|"
echo "| $made | $written | $lost | $missed | $([[ $((written + lost)) -eq $made ]] && echo yes || echo NO) |"
echo

# Delivery latency at a fixed rate.
log "delivery latency at 10,000 connections/s"
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
fi

# netgraph throughput against the line-splitting limit (wc -l), and its
# memory as the input grows, on both shapes of tracegen's trace: sequential
# (one port counter, each accept right after its connect: the shape of the
# first benchmarks) and busy (random ephemeral ports, up to 32 connections
# open at once, accepts up to 128 lines late), in one run with one binary.
tm() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); awk -v s="$s" -v e="$e" 'BEGIN { printf "%.4f", e - s }'; }
best() { # best wall time of 5 runs (nanosecond clock), then the peak RSS of one more: "secs kib"
  local t b=999999 rss i
  for i in 1 2 3 4 5; do
    t=$(tm "$@")
    b=$(awk -v a="$t" -v b="$b" 'BEGIN { print (a < b) ? a : b }')
  done
  /usr/bin/time -f "%M" -o "$tmp/ngtime" "$@" >/dev/null
  rss=$(cat "$tmp/ngtime")
  echo "$b $rss"
}
row() { # name secs bytes lines rss
  echo "| $1 | $2 | $(awk -v b="$3" -v t="$2" 'BEGIN { printf "%.2f", b / t / 1e9 }') | $(awk -v l="$4" -v t="$2" 'BEGIN { printf "%.0f", l / t }') | $5 |"
}
log "netgraph on synthetic traces"
small=$((lines / 4)) big=$((lines * 4))
[[ $quick -eq 1 ]] && big=$lines
for shape in sequential busy; do
  for n in $small $lines $big; do taskset -c 1 "$bin/benchtool" tracegen --lines "$n" --procs 64 --shape $shape >"$tmp/trace.$shape.$n"; done
  taskset -c 1 "$bin/benchtool" tracegen --lines "$lines" --procs 64 --shape $shape --json >"$tmp/trace.$shape.json"
done
size=$(stat -c %s "$tmp/trace.sequential.$lines")
# The load average goes with the figures: on a shared VM they follow it.
[[ $ngonly -eq 1 ]] && { echo "_Run: $(date -u '+%Y-%m-%d %H:%M UTC'), kernel $(uname -r), $(nproc) CPUs; netgraph only; load average before $(cut -d' ' -f1-3 /proc/loadavg)._"; echo; }
echo "### netgraph on synthetic traces (64 client processes on 200 addresses, 6 servers, 1 line in 4 IPv6; best of 5, one core)"
echo
echo "| step | seconds | GB/s | lines/s | peak RSS KiB |"
echo "|---|---:|---:|---:|---:|"
read -r t _ < <(best taskset -c 1 wc -l "$tmp/trace.sequential.$lines")
row "wc -l, $lines lines ($((size / 1000000)) MB)" "$t" "$size" "$lines" -
# The shapes alternate, so that neither always runs on a warmer machine.
for n in $small $lines $big; do
  for shape in sequential busy; do
    read -r t rss < <(best taskset -c 1 "$bin/netgraph" "$tmp/trace.$shape.$n" -o "$tmp/graph.$shape.$n.dot")
    row "netgraph $shape trace -> DOT, $n lines" "$t" "$(stat -c %s "$tmp/trace.$shape.$n")" "$n" "$rss"
  done
done
for shape in sequential busy; do
  read -r t rss < <(best taskset -c 1 "$bin/netgraph" "$tmp/trace.$shape.json" -o "$tmp/graph.$shape.json.dot")
  row "netgraph $shape JSON lines -> DOT, $lines lines ($(( $(stat -c %s "$tmp/trace.$shape.json") / 1000000 )) MB)" "$t" "$(stat -c %s "$tmp/trace.$shape.json")" "$lines" "$rss"
  # Compared as JSON read from stdin: the DOT title names the input file and,
  # for JSON lines only, the time span, so the two DOT files differ by design.
  cmp -s <("$bin/netgraph" -T json <"$tmp/trace.$shape.$lines") \
    <("$bin/netgraph" -T json <"$tmp/trace.$shape.json") ||
    log "WARNING: $shape: arrow and JSON input gave different graphs"
done
tdot=$(tm taskset -c 1 dot -Tsvg "$tmp/graph.sequential.$lines.dot")
echo "| dot -Tsvg on netgraph's output for $lines lines ($(grep -c -- '->' "$tmp/graph.sequential.$lines.dot" || true) edges, $(stat -c %s "$tmp/graph.sequential.$lines.dot") bytes) | $tdot | - | - | - |"
if [[ -n $baseline ]]; then
  # Another netgraph build (an older commit, say) on the same traces, in
  # the same run: the only fair way to compare two versions on a shared VM.
  echo
  echo "Baseline \`$baseline\`, same traces, same run:"
  echo
  echo "| step | seconds | GB/s | lines/s | peak RSS KiB |"
  echo "|---|---:|---:|---:|---:|"
  for shape in sequential busy; do
    for b in "$baseline" "$bin/netgraph"; do
      read -r t rss < <(best taskset -c 1 "$b" "$tmp/trace.$shape.$lines" -o "$tmp/graph.base.dot")
      row "$([[ $b == "$baseline" ]] && echo baseline || echo this build) $shape, $lines lines" "$t" "$(stat -c %s "$tmp/trace.$shape.$lines")" "$lines" "$rss"
    done
  done
fi

# The least this job could cost on this machine (issue 11's 1 GB/s): the
# cheapest form of each of netgraph's steps, stage by stage, beside
# netgraph's own CPU time on the same traces (tools/bench/netgraph_floor.cpp).
if [[ -x $bin/netgraph_floor ]]; then
  for shape in busy sequential; do
    echo
    echo "#### The floor on the $shape trace, $lines lines ($(stat -c %s "$tmp/trace.$shape.$lines") bytes; process CPU time, one core)"
    echo
    taskset -c 1 "$bin/netgraph_floor" "$tmp/trace.$shape.$lines"
    c=$(for i in 1 2 3 4 5; do /usr/bin/time -f "%U %S" taskset -c 1 "$bin/netgraph" "$tmp/trace.$shape.$lines" -o /dev/null 2>&1 >/dev/null | awk '{ print $1 + $2 }'; done | sort -n | head -1)
    echo "netgraph itself, same trace: $c s of CPU (best of 5; /usr/bin/time, 10 ms resolution)"
  done
fi

if [[ $soak -gt 0 ]]; then
  log "soak for $soak s"
  echo
  echo "### Soak: nettrace for $soak s at a steady rate"
  echo
  "$here/tools/bench/soak.sh" "$build" "$soak" 100
fi
