#!/usr/bin/env bash
# A two-"host" demo for tools/run.sh: namespaces nt-demo-srv (10.203.0.1) and
# nt-demo-cli (10.203.0.2) joined by a veth pair. Traffic stays inside them.
#
#   demo-netns.sh up | down | traffic WORKLOAD-BINARY
set -euo pipefail
srv=nt-demo-srv
cli=nt-demo-cli
case "${1:-}" in
  up)
    "$0" down >/dev/null 2>&1 || true
    ip netns add $srv
    ip netns add $cli
    ip link add nt-demo-s type veth peer name nt-demo-c
    ip link set nt-demo-s netns $srv
    ip link set nt-demo-c netns $cli
    ip -n $srv addr add 10.203.0.1/24 dev nt-demo-s
    ip -n $cli addr add 10.203.0.2/24 dev nt-demo-c
    for ns in $srv $cli; do
      ip -n $ns link set lo up
    done
    ip -n $srv link set nt-demo-s up
    ip -n $cli link set nt-demo-c up
    ;;
  down)
    ip netns del $srv 2>/dev/null || true
    ip netns del $cli 2>/dev/null || true
    ;;
  traffic)
    wl=${2:?traffic needs the workload binary}
    # The server accepts exactly what the client makes, then both exit.
    log=$(mktemp /tmp/nt-demo-server.XXXXXX)
    ip netns exec $srv "$wl" serve --listen 10.203.0.1:8080 --comm demo-server --count 5 >"$log" &
    server=$!
    # The server says "ready" once it listens; connecting earlier would be refused.
    for _ in $(seq 1 100); do
      grep -q ready "$log" && break
      kill -0 $server 2>/dev/null || break
      sleep 0.05
    done
    rm -f "$log"
    ip netns exec $cli "$wl" connect --to 10.203.0.1:8080 --comm demo-client --count 5 >/dev/null
    wait $server
    ;;
  *) echo "demo-netns.sh: use up, down or traffic WORKLOAD" >&2; exit 64 ;;
esac
