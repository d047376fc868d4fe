#!/usr/bin/env bash
# netgraph --serve: the page in chromium over saved traces of two hosts (the
# nodes and counts netgraph -T json draws, one box per host), and over the
# fleet from a Prometheus answer (a canned one, served by a stand-in on
# loopback), which netgraph asks again every --refresh seconds: a new edge
# appears without a reload. No root.
#   netgraph_page_test.sh BIN_DIR
source "$(dirname "$0")/../serve/lib.sh"
source "$(dirname "$0")/lib.sh"
need_tools jq curl python3
EX=$(cd "$(dirname "$0")/../../examples/traces" && pwd)

start_netgraph() { # PORT ARGS...: sets NG_PID once /healthz answers
  local port=$1; shift
  "$BIN/netgraph" --serve "127.0.0.1:$port" "$@" >"$T/ng.out" 2>"$T/ng.err" &
  NG_PID=$!; NT_BG_PIDS+=("$NG_PID")
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    kill -0 "$NG_PID" 2>/dev/null || break
    sleep 0.05
  done
  cat "$T/ng.err" >&2; fail "netgraph --serve $* did not start"
}
stop_netgraph() {
  kill -INT "$NG_PID"; local rc=0; wait "$NG_PID" || rc=$?
  [[ $rc -eq 0 ]] || { cat "$T/ng.err" >&2; fail "netgraph --serve exited $rc after SIGINT"; }
}

# Bad uses: one line each, and their exit codes (no browser needed).
expect_exit() { # CODE LINE-REGEX ARGS...
  local code=$1 line=$2; shift 2
  local rc=0
  "$BIN/netgraph" "$@" >"$T/x.out" 2>"$T/x.err" || rc=$?
  [[ $rc -eq $code ]] || fail "netgraph $*: exit $rc (want $code): $(cat "$T/x.err")"
  [[ $(wc -l <"$T/x.err") -eq 1 ]] && grep -Eq "$line" "$T/x.err" || fail "netgraph $*: stderr: $(cat "$T/x.err")"
}
a=$EX/demo-netns.trace b=$EX/ipv6-synthetic.trace
expect_exit 1 "^netgraph: --serve: the port must be a whole number" --serve nope "$a"
expect_exit 1 "^netgraph: --serve serves a web page: no -T, -o or --weight" --serve 9100 -T svg "$a"
expect_exit 1 "^netgraph: --refresh goes with --serve --prometheus" --refresh 5 "$a"
busy=$(free_listen_port)
python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); time.sleep(60)' "$busy" &
holder=$!; NT_BG_PIDS+=("$holder")
for _ in $(seq 1 100); do ss -Htln "sport = :$busy" | grep -q . && break; sleep 0.05; done
expect_exit 7 "^netgraph: --serve 127.0.0.1:$busy: cannot bind: Address already in use" --serve "127.0.0.1:$busy" "$a"
kill "$holder"
pass "netgraph --serve: a bad address or option is exit 1, an address in use exit 7, one line each"
need_browser

# Saved traces of two hosts.
"$BIN/netgraph" -T json "$a" "$b" >"$T/want.json" || fail "netgraph -T json failed"
jq -r '.nodes[] | if .external then "outside \(.addresses[0] // .name)" else "\(.host) \(.name) \(.pid // .processes)" end' \
  "$T/want.json" | sort >"$T/want.nodes"
port=$(free_listen_port)
start_netgraph "$port" "$a" "$b"
grep -q "serving the graph at http://127.0.0.1:$port/" "$T/ng.err" || fail "no serving line: $(cat "$T/ng.err")"
start_browser "http://127.0.0.1:$port/"
drive "{\"op\":\"wait\",\"until\":\"s.state && s.state.nodes.length === $(jq '.nodes | length' "$T/want.json")\"}"
page_clean "saved traces"
# The page's state against what netgraph draws: the same nodes, the same counts.
curl -fsS "http://127.0.0.1:$port/api/view" | jq -r '.nodes[] | if .kind == "outside" then "outside \(.label)" else "\(.host) \(.label) \(.pid // (.pids | length))" end' | sort >"$T/got.nodes"
same_lines "nodes of two saved traces" "$T/want.nodes" "$T/got.nodes"
[[ $(answer '[.state.edges[].count] | add') == $(jq '[.edges[].count] | add' "$T/want.json") ]] ||
  fail "connections on the page: $(answer '[.state.edges[].count] | add'), netgraph: $(jq '[.edges[].count] | add' "$T/want.json")"
answer .dom.header | grep -q "netgraph --serve demo-netns, ipv6-synthetic" || fail "header: $(answer .dom.header)"
[[ $(answer '[.dom.rows[] | select(.kind == "proc")] | length') == $(jq '[.nodes[] | select(.external | not)] | length' "$T/want.json") ]] ||
  fail "the table lists $(answer '[.dom.rows[] | select(.kind == "proc")] | length') processes"
pass "netgraph --serve of two hosts' traces: the nodes and counts of netgraph -T json, in the drawing and the table"
stop_browser
stop_netgraph

# Lost events: the page says so, with the count the trace reports.
{ cat "$a"; echo "# lost 7 events: ring buffer full (raise --ringbuf-size)"; } >"$T/lossy.trace"
port=$(free_listen_port)
start_netgraph "$port" "$T/lossy.trace"
start_browser "http://127.0.0.1:$port/"
drive '{"op":"wait","until":"s.dom.lost !== null"}'
[[ $(answer .dom.lost) == "7 events lost: the graph is incomplete" ]] || fail "lost banner: $(answer .dom.lost)"
page_clean "a lossy trace"
pass "a trace with lost events: the page says how many and that the graph is incomplete"
stop_browser
stop_netgraph

# The fleet, from a stand-in Prometheus that answers what $T/answer holds.
series() { # INSTANCE COMM DIR ADDR PORT VALUE
  printf '{"metric":{"__name__":"nettrace_connections_total","comm":"%s","direction":"%s","instance":"%s","server_addr":"%s","server_port":"%s"},"value":[1764581000.1,"%s"]}' "$2" "$3" "$1" "$4" "$5" "$6"
}
write_answer() { printf '{"status":"success","data":{"resultType":"vector","result":[%s]}}' "$(IFS=,; echo "$*")" >"$T/prom.tmp"; mv "$T/prom.tmp" "$T/prom.answer"; }
write_answer "$(series web-a:9477 curl out 10.0.0.2 443 5)" "$(series web-b:9477 nginx in 10.0.0.2 443 5)"
pp=$(free_listen_port)
python3 - "$pp" "$T/prom.answer" <<'PY' >"$T/prom.log" 2>&1 &
import http.server, sys
path = sys.argv[2]
class Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path.startswith("/api/v1/query")
        body = open(path, "rb").read() if ok else b"404 page not found"
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Answer).serve_forever()
PY
NT_BG_PIDS+=("$!")
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$pp/api/v1/query" >/dev/null 2>&1 && break; sleep 0.05; done
port=$(free_listen_port)
start_netgraph "$port" --prometheus "http://127.0.0.1:$pp" --refresh 1
start_browser "http://127.0.0.1:$port/"
fleet_edge() { # FROM TO PORT COUNT
  echo "s.state && s.state.edges.some(e => { const n = id => s.state.nodes.find(x => x.id === id); return n(e.from).label === '$1' && n(e.to).label === '$2' && e.port === $3 && e.count === $4; })"
}
drive "{\"op\":\"wait\",\"until\":\"$(fleet_edge curl nginx 443 5)\"}"
page_clean "the fleet"
[[ $(answer -c '[.state.nodes[] | [.host, .label]] | sort') == '[["web-a:9477","curl"],["web-b:9477","nginx"]]' ]] ||
  fail "fleet nodes: $(answer -c '[.state.nodes[] | [.host, .label]]')"
updates=$(answer .state.updates)
# Prometheus now holds a new edge: the page shows it at the next refresh.
write_answer "$(series web-a:9477 curl out 10.0.0.2 443 5)" "$(series web-b:9477 nginx in 10.0.0.2 443 5)" \
  "$(series web-b:9477 nginx out 10.0.0.3 5432 2)" "$(series db-c:9477 postgres in 10.0.0.3 5432 2)"
drive "{\"op\":\"wait\",\"until\":\"$(fleet_edge nginx postgres 5432 2)\"}"
page_clean "the fleet, refreshed"
[[ $(answer .state.updates) -gt $updates ]] || fail "no new view came through the stream"
pass "netgraph --serve --prometheus: the fleet's cross-host edge, and a new one after a refresh without a reload"
# curl goes and wget comes, on the same host: wget takes curl's free row,
# and nothing else moves.
pos() { answer --arg l "$1" '.state.nodes[] | select(.label == $l) | "\(.x) \(.y)"'; }
curl_at=$(pos curl) nginx_at=$(pos nginx) postgres_at=$(pos postgres)
write_answer "$(series web-a:9477 wget out 10.0.0.2 443 1)" "$(series web-b:9477 nginx in 10.0.0.2 443 1)" \
  "$(series web-b:9477 nginx out 10.0.0.3 5432 2)" "$(series db-c:9477 postgres in 10.0.0.3 5432 2)"
drive "{\"op\":\"wait\",\"until\":\"$(fleet_edge wget nginx 443 1)\"}"
[[ -z $(pos curl) ]] || fail "curl is still shown"
[[ $(pos wget) == "$curl_at" ]] || fail "wget is at $(pos wget), not in curl's free row ($curl_at)"
[[ $(pos nginx) == "$nginx_at" && $(pos postgres) == "$postgres_at" ]] || fail "nodes moved: nginx $(pos nginx) (was $nginx_at), postgres $(pos postgres) (was $postgres_at)"
page_clean "the fleet, after churn"
pass "a node that goes frees its row for the next one; the others stay where they were"
stop_browser
stop_netgraph
