#!/usr/bin/env bash
# Every netgraph command in README's netgraph section, run as written, on the
# example traces (host.trace is the recorded k3s trace, web1/db1.trace the
# fleet's): exit 0, and every file it writes is what its name says. The
# live pipeline (sudo nettrace | netgraph ...) is run by
# pipeline_sigint_test.sh; here: README's headline is that very pipeline.
#   readme_examples_test.sh SOURCE_DIR BIN_DIR
set -euo pipefail
src=$1 bin=$2
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cp "$src/examples/traces/k3s-cluster.trace" "$T/host.trace"
cp "$src/examples/traces/fleet/web1.trace" "$src/examples/traces/fleet/db1.trace" "$T/"

# The netgraph section's sh blocks.
section=$(awk '/^## netgraph$/ { on = 1; next } /^## / { on = 0 } on' "$src/README.md")
mapfile -t cmds < <(awk '/^```sh$/ { b = 1; next } /^```$/ { b = 0 } b' <<<"$section" | grep -E '^(sudo )?(nettrace .*\| *)?netgraph ')

# README's headline and the live line: the pipeline pipeline_sigint_test.sh runs.
headline=$(awk '/^```sh$/ { getline; print; exit }' "$src/README.md")
[[ ${headline%%#*} == "sudo nettrace | netgraph -T png -o graph.png     " ]] ||
  fail "README's headline is not the pipeline pipeline_sigint_test.sh runs: $headline"

valid() { # FILE: what its name says it is
  case $1 in
    *.dot) dot -Tsvg "$1" >/dev/null 2>"$T/dot.err" || fail "$1: dot rejects it: $(cat "$T/dot.err")" ;;
    *.png) [[ $(head -c 4 "$1" | od -An -c | tr -s ' ') == " 211 P N G" ]] || fail "$1 is not a PNG" ;;
    *.svg) grep -q '</svg>' "$1" || fail "$1 is not a whole SVG" ;;
    *.json) python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" || fail "$1 is not JSON" ;;
    *) fail "$1: no check for this kind of file" ;;
  esac
}

ran=0
for cmd in "${cmds[@]}"; do
  if [[ $cmd == sudo\ nettrace* ]]; then
    [[ ${cmd%%#*} == "sudo nettrace | netgraph -T png -o graph.png         " ]] ||
      fail "a live pipeline pipeline_sigint_test.sh does not run: $cmd"
    continue
  fi
  rm -f "$T"/*.dot "$T"/*.png "$T"/*.svg "$T"/*.json
  rc=0
  (cd "$T" && PATH=$bin:$PATH bash -o pipefail -c "$cmd") >"$T/stdout" 2>"$T/stderr" || rc=$?
  [[ $rc -eq 0 ]] || fail "'$cmd' exited $rc: $(head -3 "$T/stderr")"
  written=$(grep -oE '(-o|>) [^ ]+' <<<"${cmd%%#*}" | awk '{ print $2 }' || true)
  if [[ -z $written ]]; then # to stdout, in the format -T names (dot by default)
    fmt=$(grep -oE -- '-T [a-z]+' <<<"$cmd" | awk '{ print $2 }' || true)
    mv "$T/stdout" "$T/stdout.${fmt:-dot}"
    written=stdout.${fmt:-dot}
  fi
  for f in $written; do
    [[ $f == /dev/null ]] && continue
    [[ -s "$T/$f" ]] || fail "'$cmd' did not write $f"
    valid "$T/$f"
  done
  if [[ $cmd == *--stats* ]]; then grep -q 'nodes [0-9]*, edges [0-9]*' "$T/stderr" || fail "'$cmd': no counts on stderr"; fi
  ran=$((ran + 1))
done
[[ $ran -ge 7 ]] || fail "only $ran netgraph commands found in README's netgraph section"
echo "PASS: README's $ran netgraph commands run as written on the example traces"
