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
    "$(dirname "$0")/netns-pair.sh" up $srv 10.203.0.1/24 $cli 10.203.0.2/24
    ;;
  down)
    "$(dirname "$0")/netns-pair.sh" down $srv $cli
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
