#!/usr/bin/env bash
# Where netgraph's output goes and what it says when it cannot write: like
# dot, every format goes to stdout without -o or with -o - (no file named
# "-"); a path it cannot write gives one line of netgraph's own (naming the
# path and the fix, nothing from Graphviz about a temporary file), exit 3.
#   netgraph_output_test.sh SOURCE_DIR BIN_DIR
set -euo pipefail
src=$1 ng=$2/netgraph
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Under the sanitizer pass, LeakSanitizer's report of its suppressions
# (Graphviz's caches) would be the only other words on stderr.
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}print_suppressions=0"
trace=$src/examples/traces/k3s-cluster.trace
cd "$T"

magic() { head -c "$2" "$1" | od -An -c | tr -s ' '; }
for how in none dash; do
  for fmt in png svg pdf dot json; do
    args=(-T "$fmt"); [[ $how == dash ]] && args+=(-o -)
    rc=0
    "$ng" "$trace" "${args[@]}" >"out.$fmt" 2>err || rc=$?
    [[ $rc -eq 0 ]] || fail "-T $fmt ($how): exit $rc: $(cat err)"
    [[ ! -s err ]] || fail "-T $fmt ($how): said something: $(cat err)"
    case $fmt in
      png) [[ $(magic out.png 4) == " 211 P N G" ]] || fail "-T png ($how): stdout is not a PNG: $(magic out.png 8)" ;;
      svg) grep -q '</svg>' out.svg || fail "-T svg ($how): stdout is not a whole SVG" ;;
      pdf) [[ $(head -c 5 out.pdf) == "%PDF-" ]] && tail -c 8 out.pdf | grep -q EOF || fail "-T pdf ($how): stdout is not a whole PDF" ;;
      dot) dot -Tsvg out.dot >/dev/null 2>err || fail "-T dot ($how): dot rejects stdout: $(cat err)" ;;
      json) python3 -c 'import json,sys; json.load(open(sys.argv[1]))' out.json || fail "-T json ($how): not JSON" ;;
    esac
  done
  [[ ! -e ./- ]] || fail "-o - made a file named '-'"
done
# The same picture as with -o FILE.
"$ng" "$trace" -T png -o file.png
cmp -s file.png out.png || fail "-T png to stdout differs from -T png -o FILE"
echo "PASS: every format to stdout, with no -o and with -o -"

for fmt in png dot json; do
  rc=0
  "$ng" "$trace" -T "$fmt" -o "/nonexistent/x.$fmt" >out 2>err || rc=$?
  [[ $rc -eq 3 ]] || fail "-o /nonexistent/x.$fmt: exit $rc (want 3)"
  [[ $(wc -l <err) -eq 1 ]] || fail "-o /nonexistent/x.$fmt: want one line on stderr, got: $(cat err)"
  grep -qx "netgraph: cannot write /nonexistent/x.$fmt: No such file or directory (the directory must exist; or -o - for stdout)" err ||
    fail "-o /nonexistent/x.$fmt: not the expected line: $(cat err)"
  [[ ! -s out ]] || fail "-o /nonexistent/x.$fmt: wrote to stdout"
done
mkdir ro && chmod 555 ro
if [[ $(id -u) -ne 0 ]]; then # root writes anywhere
  rc=0; "$ng" "$trace" -T png -o ro/x.png 2>err || rc=$?
  [[ $rc -eq 3 && $(wc -l <err) -eq 1 ]] && grep -q 'ro/x.png: Permission denied (choose a writable directory' err ||
    fail "-o in a read-only directory: exit $rc: $(cat err)"
fi
ls ro/ /nonexistent 2>/dev/null | grep -q tmp && fail "a temporary file was left behind"
echo "PASS: an unwritable -o gives one line of netgraph's own, exit 3"

# -o naming something that is not a regular file (a FIFO; as root also a
# device node like /dev/null) is written into, never replaced: a temporary
# renamed over it would turn /dev/null into a regular file.
mkfifo out.fifo
timeout 20 cat out.fifo >fifo.got &
reader=$!
"$ng" "$trace" -o out.fifo 2>err || fail "-o FIFO: exit $?: $(cat err)"
[[ -p out.fifo ]] || { kill "$reader" 2>/dev/null; fail "-o FIFO: the FIFO was replaced by a $(stat -c %F out.fifo)"; }
wait "$reader" || fail "-o FIFO: nothing was written into the FIFO"
[[ -p out.fifo ]] || fail "-o FIFO: the FIFO was replaced by a $(stat -c %F out.fifo)"
"$ng" "$trace" >want.dot
cmp -s fifo.got want.dot || fail "-o FIFO: the reader got other bytes than stdout gives"
if [[ $(id -u) -eq 0 ]]; then
  mknod -m 666 null c 1 3 # a private /dev/null
  "$ng" "$trace" -T png -o null 2>err || fail "-o a device: exit $?: $(cat err)"
  [[ -c null ]] || fail "-o a device node: it became a $(stat -c %F null)"
fi
ls | grep -q '\.tmp\.' && fail "a temporary file was left behind"
echo "PASS: -o into a FIFO or a device writes into it and leaves it what it was"
