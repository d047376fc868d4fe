#!/usr/bin/env bash
# A real Prometheus scrapes two nettrace --serve, each filtered to one network
# namespace ("host") of a two-namespace veth setup with traffic between them:
# the edge counters Prometheus stored (asked through its HTTP query API) are
# exactly the connections and failed connects the test made; every exposition
# passes promtool; and the API endpoints return the test's own connections,
# 4-tuple, pid and name, as the processes saw them.
source "$(dirname "$0")/lib.sh"
need_root
need_tools prometheus promtool curl jq
W=$BIN/workload

serving_hosts nt-serve 10.236.0
serve_a=$SERVE_A serve_b=$SERVE_B

# Prometheus: a temporary data directory, a free loopback port, 1 s scrapes.
start_prometheus "  - job_name: nettrace
    static_configs:
      - targets: ['127.0.0.1:$pa']
        labels: {host: a}
      - targets: ['127.0.0.1:$pb']
        labels: {host: b}"
prom=$PROM_PID

# Traffic: a server in a, a client in b connects 5 times; 2 connects from b to
# a port of a nobody listens on are refused.
port=$(free_listen_port)
closed=$(free_listen_port)
while [[ $closed == "$port" ]]; do closed=$(free_listen_port); done
ip netns exec $nsa "$W" serve --listen 10.236.0.1:$port --comm nt-psrv --count 5 -v >"$T/srv" &
srv=$!; NT_BG_PIDS+=("$srv")
wait_ready_line "$T/srv" "$srv"
ip netns exec $nsb "$W" connect --to 10.236.0.1:$port --comm nt-pcli --count 5 -v >"$T/cli" || fail "connect failed"
wait "$srv" || fail "serve failed"
for _ in 1 2; do
  ip netns exec $nsb "$W" connect --to 10.236.0.1:$closed --comm nt-pref --expect-fail -v >>"$T/ref" ||
    fail "the connect to a closed port did not fail"
done
srv_pid=$(awk '$1=="pid"{print $2}' "$T/srv")
cli_pid=$(awk '$1=="pid"{print $2}' "$T/cli")

# Every exposition passes promtool.
for p in $pa $pb; do
  curl -fsS "http://127.0.0.1:$p/metrics" >"$T/metrics.$p" || fail "GET /metrics on $p failed"
  promtool check metrics <"$T/metrics.$p" >"$T/promtool.$p" 2>&1 ||
    { cat "$T/promtool.$p" >&2; fail "promtool check metrics rejects port $p's exposition"; }
done
pass "promtool check metrics passes both expositions"

# Prometheus stores exactly the counts made: poll its query API with a deadline
# (it needs some seconds before the first sample).
query() {
  curl -fsS "http://127.0.0.1:$pp/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
    jq -r '.data.result[] | [.metric.host, .metric.__name__, .metric.comm, .metric.direction,
           .metric.server_addr, .metric.server_port, .value[1]] | join(" ")' | sort
}
cat >"$T/want.prom" <<WANT
a nettrace_connections_total nt-psrv in 10.236.0.1 $port 5
b nettrace_connections_total nt-pcli out 10.236.0.1 $port 5
b nettrace_failed_connects_total nt-pref out 10.236.0.1 $closed 2
WANT
sort -o "$T/want.prom" "$T/want.prom"
deadline=$((SECONDS + 60))
q='{__name__=~"nettrace_connections_total|nettrace_failed_connects_total",job="nettrace"} > 0'
while :; do
  query "$q" >"$T/got.prom" || true
  cmp -s "$T/want.prom" "$T/got.prom" && break
  if [[ $SECONDS -ge $deadline ]]; then
    echo "--- expected  +++ Prometheus" >&2; diff "$T/want.prom" "$T/got.prom" >&2 || true
    tail -5 "$T/prometheus.log" >&2
    fail "Prometheus does not hold the exact edge counters within 60 s"
  fi
  sleep 1
done
pass "Prometheus holds exactly: 5 connections on each end of the cross-namespace edge, 2 failed connects"

# Prometheus saw both targets healthy, and nettrace's health series.
[[ $(query 'up{job="nettrace"}' | awk '{print $NF}' | sort -u) == 1 ]] || fail "a target is not up"
query 'nettrace_lost_events_total' | awk '{print $1, $NF}' >"$T/lost.prom"
[[ "$(cat "$T/lost.prom")" == $'a 0\nb 0' ]] || fail "lost events: $(cat "$T/lost.prom")"
pass "both targets up, 0 events lost"

# The API endpoints return the test's own connections: every accept, then
# its close (the workload closes each at once), and so none of them is among
# the connections open now.
workload_tuples "$T/srv" "$srv_pid" nt-psrv >"$T/want.a"
curl -fsS "http://127.0.0.1:$pa/api/events?pid=$srv_pid&type=accept" | tuples >"$T/got.a"
same_lines "/api/events?pid=&type=accept (a)" "$T/want.a" "$T/got.a"
sed 's/^accept /close /' "$T/want.a" >"$T/want.close"
curl -fsS "http://127.0.0.1:$pa/api/events?pid=$srv_pid&type=close" | tuples >"$T/got.close"
same_lines "/api/events?pid=&type=close (a)" "$T/want.close" "$T/got.close"
curl -fsS "http://127.0.0.1:$pa/api/connections" | tuples | sed 's/^[a-z]* //' >"$T/open.a"
if grep -qxF -f <(sed 's/^accept //' "$T/want.a") "$T/open.a"; then
  fail "/api/connections (a) still lists closed connections: $(cat "$T/open.a")"
fi
workload_tuples "$T/cli" "$cli_pid" nt-pcli >"$T/want.b"
curl -fsS "http://127.0.0.1:$pb/api/events?pid=$cli_pid&type=connect" | tuples >"$T/got.b"
same_lines "/api/events?pid=&type=connect (b)" "$T/want.b" "$T/got.b"
curl -fsS "http://127.0.0.1:$pb/api/events?comm=nt-pref" | jq -r '[.type, .error, .remote_port] | join(" ")' >"$T/got.ref"
[[ "$(cat "$T/got.ref")" == $'failed ECONNREFUSED '$closed$'\nfailed ECONNREFUSED '$closed ]] ||
  fail "/api/events?comm=nt-pref: $(cat "$T/got.ref")"
pass "/api/events returns the exact connections the test made and their closes; /api/connections none of them"

# The graph of host a: the server process, drawn by netgraph's library.
curl -fsS "http://127.0.0.1:$pa/api/graph?format=json" >"$T/graph.json"
[[ $(jq -r '[.nodes[] | select(.name == "nt-psrv")] | length' "$T/graph.json") == 1 ]] ||
  fail "/api/graph?format=json has no nt-psrv node: $(cat "$T/graph.json")"
[[ $(jq -r '[.edges[].count] | add' "$T/graph.json") == 5 ]] ||
  fail "/api/graph?format=json does not count 5 connections: $(cat "$T/graph.json")"
curl -fsS "http://127.0.0.1:$pa/api/graph?format=dot" | grep -q 'nt-psrv' || fail "/api/graph?format=dot has no nt-psrv"
curl -fsS "http://127.0.0.1:$pa/api/graph?format=svg" | grep -q '<svg' || fail "/api/graph?format=svg is no SVG"
pass "/api/graph draws host a's 5 connections in json, dot and svg"

stop_serve "$serve_a" a
stop_serve "$serve_b" b
grep -q '^nettrace: 5 connections and 0 failed connects served' "$T/a.err" || fail "summary a: $(cat "$T/a.err")"
grep -q '^nettrace: 5 connections and 2 failed connects served' "$T/b.err" || fail "summary b: $(cat "$T/b.err")"
[[ ! -s "$T/a.out" ]] || fail "--serve wrote lines on stdout without --serve-lines"
pass "summaries exact; stdout quiet"
kill -TERM "$prom" 2>/dev/null; wait "$prom" 2>/dev/null || true
