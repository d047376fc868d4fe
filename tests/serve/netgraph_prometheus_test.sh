#!/usr/bin/env bash
# netgraph --prometheus against a real Prometheus that scrapes two nettrace
# --serve, one per network namespace ("host") of a veth pair: a client on host
# a connects 4 times to a server on host b; netgraph draws exactly one edge,
# the client's name on a's instance -> the server's name on b's instance, port
# and count 4, in JSON and in DOT. Then the errors: an unreachable server, a
# URL that is not Prometheus, a bad --query-filter (Prometheus' own error) and
# a filter that matches nothing, each one line and its exit code.
source "$(dirname "$0")/lib.sh"
need_root
need_tools prometheus curl jq
W=$BIN/workload

serving_hosts nt-pg 10.237.0
start_prometheus "  - job_name: nettrace-$$
    static_configs:
      - targets: ['127.0.0.1:$pa', '127.0.0.1:$pb']"
prom=$PROM_PID

# Traffic: host b serves, host a's client connects 4 times.
port=$(free_listen_port)
ip netns exec $nsb "$W" serve --listen 10.237.0.2:$port --comm nt-pgsrv --count 4 -v >"$T/srv" &
srv=$!; NT_BG_PIDS+=("$srv")
wait_ready_line "$T/srv" "$srv"
ip netns exec $nsa "$W" connect --to 10.237.0.2:$port --comm nt-pgcli --count 4 -v >"$T/cli" ||
  fail "connect failed"
wait "$srv" || fail "serve failed"
n_conn=$(grep -c '^conn ' "$T/cli")
n_acc=$(grep -c '^accepted ' "$T/srv")
[[ $n_conn == 4 && $n_acc == 4 ]] || fail "the workload made $n_conn connects, $n_acc accepts, not 4"

# What the test made, as netgraph must draw it: the edge from a's client to b's
# server (client name, its instance, server name, its instance, port, count).
ia=127.0.0.1:$pa ib=127.0.0.1:$pb
echo "nt-pgcli $ia nt-pgsrv $ib $port $n_conn true" >"$T/want"
NG=("$BIN/netgraph" --prometheus "http://127.0.0.1:$pp" --range 10m --query-filter "job=\"nettrace-$$\"")
edges_of() {
  jq -r '.nodes as $n | .edges[] | [$n[.from].name, $n[.from].host, $n[.to].name, $n[.to].host,
         .port, .count, .matched] | map(tostring) | join(" ")' "$1"
}
deadline=$((SECONDS + 60))
while :; do
  rc=0
  "${NG[@]}" -T json -o "$T/fleet.json" 2>"$T/ng.err" || rc=$?
  if [[ $rc == 0 ]]; then
    edges_of "$T/fleet.json" >"$T/got"
    cmp -s "$T/want" "$T/got" && break
  fi
  if [[ $SECONDS -ge $deadline ]]; then
    echo "--- expected  +++ netgraph --prometheus (exit $rc)" >&2
    diff "$T/want" "$T/got" >&2 || true
    cat "$T/ng.err" >&2; tail -5 "$T/prometheus.log" >&2
    fail "netgraph --prometheus does not draw the exact cross-host edge within 60 s"
  fi
  sleep 1
done
pass "netgraph --prometheus -T json: nt-pgcli on $ia -> nt-pgsrv on $ib :$port x$n_conn, and no other edge"

# The same in DOT: one cluster per instance, the edge's label.
"${NG[@]}" -T dot >"$T/fleet.dot" 2>"$T/ng.err" || fail "-T dot: $(cat "$T/ng.err")"
for want in "label=\"$ia\"" "label=\"$ib\"" ":$port x$n_conn"; do
  grep -qF -- "$want" "$T/fleet.dot" || { cat "$T/fleet.dot" >&2; fail "-T dot has no $want"; }
done
[[ $(grep -cE -- '^\s*"[^"]*"\s+->' "$T/fleet.dot") == 1 ]] || { cat "$T/fleet.dot" >&2; fail "-T dot: not exactly one edge"; }
"${NG[@]}" -T svg -o "$T/fleet.svg" 2>"$T/ng.err" || fail "-T svg: $(cat "$T/ng.err")"
sed 's/&#45;/-/g; s/&gt;/>/g' "$T/fleet.svg" |
  grep -qF "xlink:title=\"nt-pgcli on $ia -> nt-pgsrv on $ib :$port, $n_conn connections\"" ||
  fail "-T svg has no tooltip for the edge"
pass "netgraph --prometheus -T dot: both instances as clusters, the one edge :$port x$n_conn; -T svg too"

"${NG[@]}" --stats -o /dev/null 2>"$T/stats" || fail "--stats: $(cat "$T/stats")"
want="netgraph: series 2, connections out $n_conn (paired $n_conn, to outside 0), accepts from outside 0, ambiguous 0, hosts 2, nodes 2, edges 1"
[[ "$(cat "$T/stats")" == "$want" ]] || fail "--stats: $(cat "$T/stats")"
pass "--stats: $want"

# Errors: one line each, their exit codes.
expect_error() { # CODE PATTERN netgraph-args...
  local code=$1 pattern=$2; shift 2
  local rc=0
  "$BIN/netgraph" "$@" >"$T/err.out" 2>"$T/err.err" || rc=$?
  [[ $rc == "$code" ]] || fail "netgraph $*: exit $rc, not $code ($(cat "$T/err.err"))"
  [[ $(wc -l <"$T/err.err") == 1 ]] || fail "netgraph $*: not one line: $(cat "$T/err.err")"
  grep -qE -- "$pattern" "$T/err.err" || fail "netgraph $*: $(cat "$T/err.err")"
  [[ ! -s "$T/err.out" ]] || fail "netgraph $*: wrote output"
}
closed=$(free_listen_port)
expect_error 5 "^netgraph: cannot reach Prometheus at http://127.0.0.1:$closed: " \
  --prometheus "http://127.0.0.1:$closed"
expect_error 5 "^netgraph: Prometheus at http://127.0.0.1:$pa answered HTTP 404: not a query answer" \
  --prometheus "http://127.0.0.1:$pa"
expect_error 5 "^netgraph: Prometheus at http://127.0.0.1:$pp answered HTTP 400: Prometheus says bad_data: " \
  --prometheus "http://127.0.0.1:$pp" --query-filter 'job=='
expect_error 6 "^netgraph: Prometheus at http://127.0.0.1:$pp holds no nettrace_connections_total series" \
  --prometheus "http://127.0.0.1:$pp" --query-filter 'job="no-such-job"'
pass "unreachable (5), not Prometheus (5), Prometheus' error (5), no series (6): one line each"

# What one host serves for this traffic (for BENCHMARKS.md's fleet figure).
for p in $pa $pb; do
  curl -fsS "http://127.0.0.1:$p/metrics" >"$T/m.$p"
  echo "series on 127.0.0.1:$p: $(grep -vc '^#' "$T/m.$p") ($(grep -c '^nettrace_connections_total' "$T/m.$p") edge), $(grep -v '^#' "$T/m.$p" | wc -c) bytes"
done
# NT_FLEET_METRICS=DIR keeps both expositions (BENCHMARKS.md counts them).
[[ -n "${NT_FLEET_METRICS:-}" ]] && cp "$T/m.$pa" "$NT_FLEET_METRICS/client-host.metrics" &&
  cp "$T/m.$pb" "$NT_FLEET_METRICS/server-host.metrics"
kill -TERM "$prom" 2>/dev/null; wait "$prom" 2>/dev/null || true
