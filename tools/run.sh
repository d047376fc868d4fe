#!/usr/bin/env bash
# The main job, from a fresh clone: install missing dependencies, build, trace
# this host for a while and draw who talks to whom. Writes the trace, the DOT
# file and a PNG, and prints their paths.
#
#   tools/run.sh [-d SECONDS] [-o DIR] [--no-demo] [-- NETTRACE-ARGS...]
#
# A quiet machine would give an empty graph, so unless --no-demo is given a
# small demo runs during the trace: a server and a client, each in a network
# namespace of its own joined by a veth pair, both removed again afterwards.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
duration=10
outdir=$here/out
demo=1
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    -d|--duration) duration=${2:?-d needs seconds}; shift 2 ;;
    -o|--output-dir) outdir=${2:?-o needs a directory}; shift 2 ;;
    --no-demo) demo=0; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 64 ;;
  esac
done
if ! [[ "$duration" =~ ^[1-9][0-9]*$ ]]; then
  echo "run.sh: -d wants a whole number of seconds, got '$duration'" >&2; exit 64
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "run.sh: tracing needs root (CAP_BPF+CAP_PERFMON): run as root (sudo $0)" >&2
  exit 77
fi

cd "$here"
# NT_BUILD_DIR lets the test suite run this script against its own build.
build=${NT_BUILD_DIR:-$here/build}
tools/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target nettrace netgraph nt_workload >/dev/null

mkdir -p "$outdir"
stamp=$(date +%Y%m%d-%H%M%S)
trace=$outdir/nettrace-$stamp.trace
dotfile=$outdir/nettrace-$stamp.dot
png=$outdir/nettrace-$stamp.png
ready=$(mktemp -u /tmp/nettrace-ready.XXXXXX)

demo_pids=()
cleanup() {
  for p in "${demo_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [[ $demo -eq 1 ]]; then tools/demo-netns.sh down >/dev/null 2>&1 || true; fi
  rm -f "$ready"
}
trap cleanup EXIT

echo "run.sh: tracing for ${duration}s -> $trace"
"$build/bin/nettrace" --ready-file "$ready" -d "$duration" "${extra[@]}" >"$trace" &
tracer=$!
for _ in $(seq 1 100); do
  [[ -e "$ready" ]] && break
  kill -0 "$tracer" 2>/dev/null || break
  sleep 0.1
done
if [[ ! -e "$ready" ]]; then
  wait "$tracer" || true
  echo "run.sh: nettrace did not start (its error is above)" >&2
  exit 1
fi

if [[ $demo -eq 1 ]]; then
  tools/demo-netns.sh up
  tools/demo-netns.sh traffic "$build/bin/workload" &
  demo_pids+=($!)
fi

wait "$tracer"
if [[ $demo -eq 1 ]]; then
  wait "${demo_pids[@]}" 2>/dev/null || true
  demo_pids=()
fi

# Read from stdin with this machine's name: a file's host would be the file
# name, and the title would say "TCP connections on nettrace-<stamp>".
host=$(hostname 2>/dev/null || uname -n)
"$build/bin/netgraph" --host "$host" -o "$dotfile" <"$trace"
"$build/bin/netgraph" --host "$host" -T png -o "$png" <"$trace"
echo "run.sh: $(grep -vc '^#' "$trace" || true) events"
echo "trace: $trace"
echo "dot:   $dotfile"
echo "png:   $png"
