#!/usr/bin/env bash
# Two network namespaces joined by a veth pair: two "hosts" on this machine,
# for the demo, the live tests and the benchmarks. Traffic between them never
# leaves the machine. Inside each namespace the link is called veth0.
#
#   netns-pair.sh up NS_A ADDR_A NS_B ADDR_B    (addresses with a prefix: 10.203.0.1/24)
#   netns-pair.sh down NS_A NS_B
set -euo pipefail
case "${1:-}" in
  up)
    [[ $# -eq 5 ]] || { echo "netns-pair.sh: up NS_A ADDR_A NS_B ADDR_B" >&2; exit 64; }
    a=$2 addr_a=$3 b=$4 addr_b=$5
    ip netns del "$a" 2>/dev/null || true
    ip netns del "$b" 2>/dev/null || true
    ip netns add "$a"
    ip netns add "$b"
    # Unique names while both ends are still in this namespace.
    ip link add "ntv$$a" type veth peer name "ntv$$b"
    ip link set "ntv$$a" netns "$a"
    ip link set "ntv$$b" netns "$b"
    ip -n "$a" link set "ntv$$a" name veth0
    ip -n "$b" link set "ntv$$b" name veth0
    ip -n "$a" addr add "$addr_a" dev veth0
    ip -n "$b" addr add "$addr_b" dev veth0
    for ns in "$a" "$b"; do
      ip -n "$ns" link set lo up
      ip -n "$ns" link set veth0 up
    done
    ;;
  down)
    shift
    for ns in "$@"; do ip netns del "$ns" 2>/dev/null || true; done
    ;;
  *) echo "netns-pair.sh: use up NS_A ADDR_A NS_B ADDR_B, or down NS..." >&2; exit 64 ;;
esac
