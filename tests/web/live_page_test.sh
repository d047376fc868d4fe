#!/usr/bin/env bash
# The live page in a real browser (Debian's headless chromium) against
# nettrace --serve while connections are made between two network namespaces:
# the nodes and the edge of the test's connections appear with the test
# processes' own names and pids; a later connection appears without a reload
# and without moving what was there; the filter box hides what it should, in
# the picture and in the table; a click shows a process's connections, as the
# process itself saw them. With NT_WEB_SCREENSHOTS=DIR, the two moments are
# saved there as PNG (tools/regen-examples.sh: examples/web-*.png).
#   live_page_test.sh BIN_DIR
source "$(dirname "$0")/../serve/lib.sh"
need_root
source "$(dirname "$0")/lib.sh"
need_browser
need_tools jq curl
W=$BIN/workload

nsa=nt-web-a-$$ nsb=nt-web-b-$$
trap 'ip netns del $nsa 2>/dev/null; ip netns del $nsb 2>/dev/null; cleanup' EXIT
"$(dirname "$0")/../../tools/netns-pair.sh" up $nsa 10.238.0.1/24 $nsb 10.238.0.2/24

p1=$(free_listen_port); p2=$(free_listen_port)
while [[ $p2 == "$p1" ]]; do p2=$(free_listen_port); done
sp=$(free_listen_port)
while [[ $sp == "$p1" || $sp == "$p2" ]]; do sp=$(free_listen_port); done
# Only the test's ports: other tests' connections on this machine stay out.
start_serve web "$sp" --port "$p1,$p2"

# Moment 1: web (in a) serves; a client in b connects 3 times and closes.
srv=nt-websrv-$$ cli=nt-webcli-$$ db=nt-webdb-$$ app=nt-webapp-$$
srv=${srv:0:15} cli=${cli:0:15} db=${db:0:15} app=${app:0:15}
ip netns exec $nsa "$W" serve --listen 10.238.0.1:$p1 --comm "$srv" --count 3 -v >"$T/srv" &
srv_pid=$!; NT_BG_PIDS+=("$srv_pid")
wait_ready_line "$T/srv" "$srv_pid"
ip netns exec $nsb "$W" connect --to 10.238.0.1:$p1 --comm "$cli" --count 3 -v >"$T/cli" || fail "connect failed"
wait "$srv_pid" || fail "serve failed"
cli_pid=$(awk '$1=="pid"{print $2}' "$T/cli")

start_browser "http://127.0.0.1:$sp/"
has_edge() { # JS: an edge from label $1 to label $2 on port $3 counting $4
  echo "s.state && s.state.edges.some(e => { const n = id => s.state.nodes.find(x => x.id === id);
    return n(e.from).label === '$1' && n(e.to).label === '$2' && e.port === $3 && e.count === $4; })"
}
drive "{\"op\":\"wait\",\"until\":\"$(has_edge "$cli" "$srv" "$p1" 3 | tr '\n' ' ')\"}"
page_clean "first view"
# The nodes: exactly the test's two processes, with the pids they reported.
answer '.state.nodes[] | "\(.label) \(.kind) \(.pid)"' | sort >"$T/got.nodes"
printf '%s\n' "$cli process $cli_pid" "$srv process $srv_pid" | sort >"$T/want.nodes"
same_lines "nodes of the first view" "$T/want.nodes" "$T/got.nodes"
# The picture and the text view name them (read from the DOM, not the state).
for name in "$cli" "$srv"; do
  [[ $(answer --arg n "$name" '[.dom.nodes[] | select(.label == $n and .shown)] | length') == 1 ]] ||
    fail "the drawing has no shown node labelled $name"
  [[ $(answer --arg n "$name" '[.dom.rows[] | select(.kind == "proc" and .cells[0] == $n and .shown)] | length') == 1 ]] ||
    fail "the table has no row for $name"
done
[[ $(answer "[.dom.edges[] | select(.port == $p1 and .shown)] | length") == 1 ]] || fail "no edge :$p1 drawn"
answer "[.dom.edges[] | select(.port == $p1)][0].text" | grep -qx ":$p1 ×3" || fail "edge label: $(answer "[.dom.edges[] | select(.port == $p1)][0].text")"
answer '.dom.header' | grep -q "nettrace --serve $(hostname)" || fail "the header names no host: $(answer .dom.header)"
pass "first view: $cli -> $srv :$p1 x3, pids $cli_pid and $srv_pid, in the drawing and the table"
[[ -n "${NT_WEB_SCREENSHOTS:-}" ]] && drive "{\"op\":\"screenshot\",\"path\":\"$NT_WEB_SCREENSHOTS/web-live-1.png\"}"
answer '.state.nodes[] | "\(.id) \(.x) \(.y)"' | sort >"$T/pos.before"
updates=$(answer .state.updates)

# Moment 2, page open: a server in a and a client in b that keep their
# connection open. The page shows it without reloading.
ip netns exec $nsa "$W" serve --listen 10.238.0.1:$p2 --comm "$db" --count 0 --hold -v >"$T/db" &
db_pid=$!; NT_BG_PIDS+=("$db_pid")
wait_ready_line "$T/db" "$db_pid"
ip netns exec $nsb "$W" connect --to 10.238.0.1:$p2 --comm "$app" --count 1 --hold -v >"$T/app" &
app_pid=$!; NT_BG_PIDS+=("$app_pid")
for _ in $(seq 1 100); do grep -q '^conn' "$T/app" && break; sleep 0.05; done
grep -q '^conn' "$T/app" || fail "the holding client did not connect"
drive "{\"op\":\"wait\",\"until\":\"$(has_edge "$app" "$db" "$p2" 1 | tr '\n' ' ') && s.state.edges.find(e => e.port === $p2).open === 1\"}"
page_clean "after the new connection"
[[ $(answer .state.updates) -gt $updates ]] || fail "the view did not change through the stream"
# What was there has not moved.
join <(sort "$T/pos.before") <(answer '.state.nodes[] | "\(.id) \(.x) \(.y)"' | sort) | awk '$2 != $4 || $3 != $5' >"$T/moved"
[[ ! -s "$T/moved" ]] || fail "nodes moved when one was added: $(cat "$T/moved")"
[[ $(answer '.state.nodes | length') == 4 ]] || fail "want 4 nodes now: $(answer -c '[.state.nodes[].label]')"
pass "a new connection ($app -> $db :$p2, open) appeared without a reload; nothing moved"
[[ -n "${NT_WEB_SCREENSHOTS:-}" ]] && drive "{\"op\":\"screenshot\",\"path\":\"$NT_WEB_SCREENSHOTS/web-live-2.png\"}"

# The filter: a name shows that process and whom it talks to; a port the
# edges to it and their ends; an address the processes that have it.
shown_labels() { answer '[.dom.nodes[] | select(.shown) | .label] | sort | join(" ")'; }
shown_rows() { answer '[.dom.rows[] | select(.shown and .kind == "proc") | .cells[0]] | sort | join(" ")'; }
drive "{\"op\":\"filter\",\"text\":\"$db\"}"
want=$(printf '%s\n' "$app" "$db" | sort | paste -sd' ')
[[ $(shown_labels) == "$want" ]] || fail "filter '$db' shows: $(shown_labels) (want $want)"
[[ $(shown_rows) == "$want" ]] || fail "filter '$db': the table shows $(shown_rows) (want $want)"
[[ $(answer "[.dom.edges[] | select(.shown) | .port] | join(\" \")") == "$p2" ]] || fail "filter '$db' shows edges $(answer -c '[.dom.edges[] | select(.shown)]')"
drive "{\"op\":\"filter\",\"text\":\":$p1\"}"
want=$(printf '%s\n' "$cli" "$srv" | sort | paste -sd' ')
[[ $(shown_labels) == "$want" ]] || fail "filter ':$p1' shows: $(shown_labels) (want $want)"
drive "{\"op\":\"filter\",\"text\":\"10.238.0.2\"}"
want=$(printf '%s\n' "$app" "$cli" "$db" "$srv" | sort | paste -sd' ')
[[ $(shown_labels) == "$want" ]] || fail "filter '10.238.0.2' shows: $(shown_labels) (want $want: the clients and their peers)"
drive "{\"op\":\"filter\",\"text\":\"no-such-name-$$\"}"
[[ -z $(shown_labels) ]] || fail "filter on nothing still shows $(shown_labels)"
drive '{"op":"filter","text":""}'
[[ $(answer '[.dom.nodes[] | select(.shown)] | length') == 4 ]] || fail "clearing the filter does not show all again"
pass "filter by name, port and address hides the rest in the drawing and the table"

# Details: the holding client's connection, as the client saw it, open.
n=$(answer --arg a "$app" '.state.nodes[] | select(.label == $a) | .n')
drive "{\"op\":\"click\",\"n\":$n}"
[[ $(answer .dom.details.title) == "$app" ]] || fail "details title: $(answer .dom.details.title)"
answer '.dom.details.facts[] | join("=")' | grep -qx "pid=$app_pid" || fail "details: no pid=$app_pid: $(answer -c .dom.details.facts)"
read -r _ _ local remote < <(grep '^conn' "$T/app")
answer '.dom.details.conns[] | "\(.[0]) \(.[1]) \(.[2]) \(.[3])"' >"$T/details"
grep -qx "out $local $remote open" "$T/details" || fail "details lack 'out $local $remote open': $(cat "$T/details")"
page_clean "after filtering and a click"
pass "a click shows the process's pid and its open connection $local -> $remote"
stop_browser
kill "$app_pid" "$db_pid" 2>/dev/null || true
stop_serve "$SERVE_PID" web
