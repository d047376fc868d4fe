#!/usr/bin/env bash
# The hostile names of tests/hardening (line breaks, quotes, backslashes,
# markup, raw bytes) through the live page in chromium: each shows as the text
# nettrace's lines write it (escaped bytes), in the drawing, its tooltip, the
# table and the details pane, and none makes an element or runs a script.
#   hostile_page_test.sh BIN_DIR
source "$(dirname "$0")/../serve/lib.sh"
need_root
source "$(dirname "$0")/lib.sh"
need_browser
need_tools jq curl python3
source "$(dirname "$0")/../hardening/hostile_names.sh"
W=$BIN/workload

port=$(free_listen_port)
sp=$(free_listen_port)
while [[ $sp == "$port" ]]; do sp=$(free_listen_port); done
start_serve hostile "$sp" --port "$port"
i=0
for name in "${names[@]}"; do
  i=$((i + 1))
  "$W" serve --listen 127.0.0.1:$port --comm "$name" --count 1 >"$T/srv.$i" &
  srv=$!; NT_BG_PIDS+=("$srv")
  wait_ready_line "$T/srv.$i" "$srv"
  "$W" connect --to 127.0.0.1:$port --comm "$name" --count 1 >/dev/null || fail "connect as ${name@Q} failed"
  wait "$srv" || fail "serve as ${name@Q} failed"
done

# What each name must read as: the kernel keeps 15 bytes; then every byte
# outside printable ASCII, and the backslash, as nettrace escapes it.
printf '%s\0' "${names[@]}" | python3 -c '
import sys
for raw in sys.stdin.buffer.read().split(b"\0")[:-1]:
    out = ""
    for b in raw[:15]:
        out += "\\\\" if b == 0x5c else chr(b) if 0x20 <= b < 0x7f else "\\x%02x" % b
    print(out)' | sort -u >"$T/want"

start_browser "http://127.0.0.1:$sp/"
drive "{\"op\":\"wait\",\"until\":\"s.state && s.state.edges.length === ${#names[@]} && s.dom.rows.length > 0\"}"
page_clean "hostile names"
answer '.dom.rows[] | select(.kind == "proc") | .cells[0]' | sort -u >"$T/got.table"
same_lines "names in the table" "$T/want" "$T/got.table"
answer '.dom.nodes[] | .label' | sort -u >"$T/got.labels"
same_lines "names drawn" "$T/want" "$T/got.labels"
answer '.dom.nodes[] | .title | split("\n")[0]' | sort -u >"$T/got.titles"
same_lines "names in the tooltips" "$T/want" "$T/got.titles"
# The details pane of each: the name as its title, nothing made of it.
for n in $(answer '.dom.nodes[] | .n'); do
  drive "{\"op\":\"click\",\"n\":$n}"
  want=$(answer --argjson n "$n" '.dom.nodes[] | select(.n == $n) | .label')
  [[ $(answer .dom.details.title) == "$want" ]] || fail "details of node $n: $(answer .dom.details.title) (want $want)"
  page_clean "details of $want"
done
pass "${#names[@]} hostile names show as escaped text in the drawing, tooltips, table and details; no markup, no script"
stop_browser
stop_serve "$SERVE_PID" hostile
