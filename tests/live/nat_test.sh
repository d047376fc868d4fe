#!/usr/bin/env bash
# NAT-aware pairing (issue 16), with real nftables rules and nettrace --nat:
#   1. DNAT in the client namespace's own OUTPUT hook: a virtual service
#      address and port sent to a server in a second namespace, on another port;
#   2. client and server namespaces routed through this machine's root
#      namespace, which DNATs a service address (as a Kubernetes node does),
#      and in a variant also masquerades; its own nftables table, forwarding
#      enabled on the test's own interfaces only;
#   3. a published port: DNAT from a port of a root-namespace address to a
#      server in a namespace (as Docker does), reached from the root namespace.
# Each time the trace carries the translation ('# nat' after the connect line,
# nat_* in JSON), netgraph draws client -> server through the service address
# (no service node left dangling) with the right count, the same from the
# trace split into one file per namespace, and the arrow lines themselves are
# what they are without --nat. A connection that existed before nettrace
# started carries its translation too. A namespace pair without NAT changes
# nothing.
source "$(dirname "$0")/../serve/lib.sh"
need_root
for tool in nft ip jq python3 prometheus curl; do
  command -v $tool >/dev/null || {
    [[ "${CI:-}" == "true" ]] && fail "$tool is missing (tools/install-deps.sh installs it)"
    echo "SKIP: $tool is missing (tools/install-deps.sh installs it)"
    exit 77
  }
done
if [[ ! -e /proc/sys/net/netfilter/nf_conntrack_max ]]; then
  [[ "${CI:-}" == "true" ]] && fail "this kernel has no connection tracking (nf_conntrack)"
  echo "SKIP: no connection tracking (nf_conntrack) here: nothing is translated"
  exit 77
fi

# Names that include $$: namespaces, interfaces (at most 15 bytes), the root
# table, the process names.
cns=ntnc$$ sns=ntns$$ table=ntnat$$
cli=ntcli$$ srv=ntsrv$$
# The second byte of the test's private addresses (10.a.0.0/16, and the service
# addresses 10.96.a.10, 10.97.a.10). Cases 2 and 3 need addresses in the root
# namespace (a masquerade's source, a host port): they go on the test's own
# veth interfaces only, and a range this machine already uses is skipped.
a=$(( $$ % 200 + 20 ))
for _ in $(seq 200); do
  [[ -z $(ip -4 addr show to "10.$a.0.0/16") && -z $(ip -4 route show root "10.$a.0.0/16") &&
     -z $(ip -4 route show root "10.96.$a.0/24") && -z $(ip -4 route show root "10.97.$a.0/24") ]] && break
  a=$(( (a - 20 + 1) % 200 + 20 ))
done
N=3                    # connections per case
declare -a NT_IFS=()   # root-side interfaces made here
cleanup_nat() {
  nft delete table ip "$table" 2>/dev/null || true
  for i in "${NT_IFS[@]}"; do ip link del "$i" 2>/dev/null || true; done
  ip netns del "$cns" 2>/dev/null || true
  ip netns del "$sns" 2>/dev/null || true
  cleanup
}
trap cleanup_nat EXIT

# The server: accepts $N connections on 0.0.0.0:8080, writes each as nettrace
# shows the accept, answers one byte.
cat >"$T/srv.py" <<'PY'
import socket, sys
name, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
open("/proc/self/comm", "w").write(name)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(16)
print("ready", flush=True)
lines = []
import os
for _ in range(n):
    c, peer = s.accept()
    me = c.getsockname()
    lines.append("%s:%d->%s:%d|PID=%d CMD=%s" % (peer[0], peer[1], me[0], me[1], os.getpid(), name))
    c.sendall(b"x"); c.recv(1); c.close()
open(out, "w").write("\n".join(lines) + "\n")
PY
# The client: $N connections to HOST:PORT, each written as nettrace shows
# the connect; waits for the answer so the server has accepted.
cat >"$T/cli.py" <<'PY'
import os, socket, sys, time
name, host, port, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
open("/proc/self/comm", "w").write(name)
lines = []
for _ in range(n):
    c = socket.create_connection((host, port))
    me, peer = c.getsockname(), c.getpeername()
    lines.append("%s:%d<-%s:%d|PID=%d CMD=%s" % (peer[0], peer[1], me[0], me[1], os.getpid(), name))
    c.recv(1); c.sendall(b"y"); c.close()
open(out, "w").write("\n".join(lines) + "\n")
time.sleep(0.3)
PY

# clients NAME CLIENT_NS(or -) SERVER_NS HOST PORT: the server in SERVER_NS,
# $N connects to HOST:PORT from CLIENT_NS (- : this namespace); leaves
# $T/NAME.{cli,srv}.
clients() {
  local name=$1 cns_=$2 sns_=$3 host=$4 port=$5
  ip netns exec "$sns_" python3 "$T/srv.py" "$srv" "$N" "$T/$name.srv" >"$T/$name.srvlog" 2>&1 &
  local spid=$!
  NT_BG_PIDS+=("$spid")
  wait_ready_line "$T/$name.srvlog" "$spid"
  if [[ $cns_ == - ]]; then
    python3 "$T/cli.py" "$cli" "$host" "$port" "$N" "$T/$name.cli"
  else
    ip netns exec "$cns_" python3 "$T/cli.py" "$cli" "$host" "$port" "$N" "$T/$name.cli"
  fi
  wait "$spid" || fail "$name: the server failed: $(cat "$T/$name.srvlog")"
}

# run_case NAME CLIENT_NS(or -) SERVER_NS HOST PORT: nettrace --nat (arrow and
# JSON at once: two instances) around one client run; leaves $T/NAME.{arrow,json,cli,srv}.
run_case() {
  local name=$1 port=$5
  start_nettrace "$T/$name.arrow" --nat --close --port "8080,$port" --no-snapshot
  local arrow_pid=$NT_PID
  start_nettrace "$T/$name.json" --nat --format json --port "8080,$port" --no-snapshot
  local json_pid=$NT_PID
  clients "$@"
  sleep 0.3
  NT_PID=$arrow_pid; stop_nettrace
  NT_PID=$json_pid; stop_nettrace
}

# check_case NAME SERVICE(ip:port) BACKEND(ip:port) [CLIENT_AS_SEEN_IP]: the
# trace carries the translation and the graph pairs through it.
check_case() {
  local name=$1 service=$2 backend=$3 masq=${4:-}
  # Arrow: exactly the lines without --nat (what the processes saw), each
  # connect followed by its '# nat' line.
  local got want
  got=$(grep -v '^#' "$T/$name.arrow" | grep -E "CMD=($cli|$srv)\$" | sort)
  want=$(sort "$T/$name.cli" "$T/$name.srv")
  [[ "$got" == "$want" ]] || fail "$name: arrow lines differ from what the processes saw:
got:
$got
want:
$want"
  local line next n=0
  while IFS= read -r line; do
    [[ $line == *"CMD=$cli" && $line != "#"* ]] || continue
    n=$((n + 1))
    next=$(grep -F -x -A1 -- "$line" "$T/$name.arrow" | sed -n 2p)
    local lp=${line#*<-}; lp=${lp%%|*}
    local want_nat="# nat remote=$backend"
    [[ -n $masq ]] && want_nat+=" local=$masq:${lp##*:}"
    # With masquerade the source port may change too: compare the address.
    if [[ -n $masq ]]; then
      [[ $next == "# nat remote=$backend local=$masq:"* ]] ||
        fail "$name: after '$line' want '$want_nat...', got '$next'"
    else
      [[ $next == "$want_nat" ]] || fail "$name: after '$line' want '$want_nat', got '$next'"
    fi
  done <"$T/$name.arrow"
  [[ $n -eq $N ]] || fail "$name: $n connects of $cli in the arrow trace, want $N"
  # Each connect's close line (--close) is followed by the same translation.
  local closes
  closes=$(grep -A1 "^# close .*CMD=$cli\$" "$T/$name.arrow" | grep -c "^# nat remote=$backend" || true)
  [[ $closes -eq $N ]] || fail "$name: $closes of $cli's '# close' lines are followed by '# nat remote=$backend', want $N:
$(cat "$T/$name.arrow")"
  # JSON: the connects carry nat_remote_*; the accepts name the service they
  # were reached through when the root namespace did the NAT.
  local jn
  jn=$(jq -c --arg c "$cli" --arg b "$backend" \
    'select(.type=="connect" and .comm==$c and (.nat_remote_ip+":"+(.nat_remote_port|tostring))==$b)' \
    "$T/$name.json" | wc -l)
  [[ $jn -eq $N ]] || fail "$name: $jn JSON connects carry nat_remote $backend, want $N:
$(cat "$T/$name.json")"
  # netgraph: client -> server, N connections, via the service; no node for
  # the service address or the backend left outside.
  for input in arrow json; do
    "$BIN/netgraph" -T json "$T/$name.$input" >"$T/$name.$input.graph" 2>"$T/$name.ng.err" ||
      fail "$name: netgraph failed on the $input trace: $(cat "$T/$name.ng.err")"
    edges=$(jq -c '[.nodes as $n | .edges[] | {from: $n[.from].name, to: $n[.to].name, port, count, matched, via, closed}] | sort_by(.from, .to)' \
      "$T/$name.$input.graph")
    want_edges=$(jq -cn --arg c "$cli" --arg s "$srv" --arg v "$service" --argjson n $N \
      '[{from: $c, to: $s, port: 8080, count: $n, matched: true, via: $v, closed: $n}]')
    [[ "$edges" == "$want_edges" ]] || fail "$name: netgraph from the $input trace drew $edges, want $want_edges"
  done
  # The trace split by network namespace, as from separate hosts: the same
  # edge (hosts aside).
  mkdir -p "$T/$name.split"
  jq -c '.' "$T/$name.json" | while IFS= read -r l; do
    ns=$(jq -r '.netns // 0' <<<"$l")
    echo "$l" >>"$T/$name.split/ns$ns.trace"
  done
  local files=("$T/$name.split"/*.trace)
  [[ ${#files[@]} -ge 2 ]] || fail "$name: the JSON trace holds ${#files[@]} network namespaces, want 2 or more"
  "$BIN/netgraph" -T json "${files[@]}" >"$T/$name.split.graph" ||
    fail "$name: netgraph failed on the split trace"
  edges=$(jq -c '[.nodes as $n | .edges[] | {from: $n[.from].name, to: $n[.to].name, port, count, matched, via, closed}] | sort_by(.from, .to)' \
    "$T/$name.split.graph")
  [[ "$edges" == "$want_edges" ]] || fail "$name: netgraph from one file per namespace drew $edges, want $want_edges"
  # --group-by service: client -> service -> server.
  "$BIN/netgraph" -T json --group-by service "$T/$name.json" >"$T/$name.svc.graph"
  edges=$(jq -c '[.nodes as $n | .edges[] | {from: $n[.from].name, to: $n[.to].name, port, count}] | sort_by(.from, .to)' \
    "$T/$name.svc.graph")
  local sport=${service##*:}
  want_edges=$(jq -cn --arg c "$cli" --arg s "$srv" --arg v "$service" --argjson n $N --argjson sp "$sport" \
    '[{from: $c, to: $v, port: $sp, count: $n}, {from: $v, to: $s, port: 8080, count: $n}] | sort_by(.from, .to)')
  [[ "$edges" == "$want_edges" ]] || fail "$name: --group-by service drew $edges, want $want_edges"
  pass "$name: $N connections through $service paired with $srv at $backend"
}

# veth_pair NS IF_ROOT IF_NS ROOT_IP NS_IP: a link between the root namespace
# and NS, /24 each side, NS's default route through it.
veth_pair() {
  local ns=$1 ifr=$2 ifn=$3 rip=$4 nip=$5
  ip link add "$ifr" type veth peer name "$ifn" netns "$ns"
  NT_IFS+=("$ifr")
  ip addr add "$rip/24" dev "$ifr"
  ip link set "$ifr" up
  ip -n "$ns" addr add "$nip/24" dev "$ifn"
  ip -n "$ns" link set "$ifn" up
  ip -n "$ns" link set lo up
  ip -n "$ns" route add default via "$rip"
}

fresh_namespaces() {
  nft delete table ip "$table" 2>/dev/null || true
  for i in "${NT_IFS[@]}"; do ip link del "$i" 2>/dev/null || true; done
  NT_IFS=()
  ip netns del "$cns" 2>/dev/null || true
  ip netns del "$sns" 2>/dev/null || true
  ip netns add "$cns"
  ip netns add "$sns"
}

# --- 0. no NAT: two namespaces linked directly; --nat changes nothing ------------
fresh_namespaces
"$(dirname "$0")/../../tools/netns-pair.sh" up "$cns" "10.$a.1.1/24" "$sns" "10.$a.1.2/24"
run_case plain "$cns" "$sns" "10.$a.1.2" 8080
[[ $(grep -c '^# nat ' "$T/plain.arrow" || true) -eq 0 ]] ||
  fail "plain: '# nat' lines without any NAT: $(cat "$T/plain.arrow")"
got=$(grep -v '^#' "$T/plain.arrow" | grep -E "CMD=($cli|$srv)\$" | sort)
[[ "$got" == "$(sort "$T/plain.cli" "$T/plain.srv")" ]] || fail "plain: arrow lines differ: $got"
[[ $(jq -c 'select(has("nat_remote_ip") or has("nat_local_ip"))' "$T/plain.json" | wc -l) -eq 0 ]] ||
  fail "plain: nat fields without any NAT"
grep -q "nettrace: nat: .* 0 translated" "$T/nettrace.err" ||
  fail "plain: the exit summary does not say nothing was translated: $(cat "$T/nettrace.err")"
pass "plain: no NAT, no '# nat' line, the summary says 0 translated"

# --- 1. DNAT in the client namespace's OUTPUT hook --------------------------------
ip netns exec "$cns" nft -f - <<EOF
table ip $table {
  chain out {
    type nat hook output priority -100;
    ip daddr 10.96.$a.10 tcp dport 80 dnat to 10.$a.1.2:8080
  }
}
EOF
# The service address must be routable from the client: through the link.
ip -n "$cns" route add "10.96.$a.10/32" dev veth0
run_case output "$cns" "$sns" "10.96.$a.10" 80
check_case output "10.96.$a.10:80" "10.$a.1.2:8080"

# --- 2. the root namespace routes and DNATs (a node), then also masquerades -------
fresh_namespaces
veth_pair "$cns" ntrc$$ ntc1$$ "10.$a.2.1" "10.$a.2.2"
veth_pair "$sns" ntrs$$ nts1$$ "10.$a.3.1" "10.$a.3.2"
for i in ntrc$$ ntrs$$; do sysctl -qw "net.ipv4.conf.$i.forwarding=1"; done
nft -f - <<EOF
table ip $table {
  chain pre {
    type nat hook prerouting priority -100;
    iifname "ntrc$$" ip daddr 10.97.$a.10 tcp dport 80 dnat to 10.$a.3.2:8080
  }
}
EOF
run_case routed "$cns" "$sns" "10.97.$a.10" 80
check_case routed "10.97.$a.10:80" "10.$a.3.2:8080"

# --user: nettrace drops to nobody once attached, keeping only CAP_NET_ADMIN,
# which the kernel checks on every conntrack request (without it every lookup
# failed with EPERM). The root namespace's table, opened before the drop,
# still answers.
start_nettrace "$T/user.arrow" --nat --user nobody --port "8080,80" --no-snapshot
user_nt=$NT_PID
clients user "$cns" "$sns" "10.97.$a.10" 80
caps=$(awk '$1=="CapEff:"{print $2}' "/proc/$user_nt/status"); uid=$(awk '$1=="Uid:"{print $3}' "/proc/$user_nt/status")
sleep 0.3
NT_PID=$user_nt; stop_nettrace
[[ $uid == "$(id -u nobody)" && $caps == 0000000000001000 ]] ||
  fail "user: nettrace --user nobody runs as uid $uid with effective capabilities $caps, want $(id -u nobody) and only CAP_NET_ADMIN (0000000000001000)"
n=$(grep -c "^# nat remote=10.$a.3.2:8080\$" "$T/user.arrow" || true)
[[ $n -eq $N ]] || fail "user: $n '# nat remote=10.$a.3.2:8080' lines with --user nobody, want $N:
$(cat "$T/user.arrow")
$(tail -n 3 "$T/nettrace.err")"
pass "user: --nat --user nobody keeps only CAP_NET_ADMIN and still finds the $N translations"

# The fleet: one nettrace --serve --nat per namespace ("host"), a real
# Prometheus scraping both, netgraph --prometheus: the client's connects to
# the service count on the backend it reached (server_addr, with via), so
# the cross-host edge pairs, as from the traces.
pa=$(free_listen_port); pb=$(free_listen_port)
while [[ $pb == "$pa" ]]; do pb=$(free_listen_port); done
start_serve fa "$pa" --nat --netns "$(stat -L -c %i "/run/netns/$cns")"
fa=$SERVE_PID
start_serve fb "$pb" --nat --netns "$(stat -L -c %i "/run/netns/$sns")"
fb=$SERVE_PID
start_prometheus "  - job_name: nettrace-nat-$$
    static_configs:
      - targets: ['127.0.0.1:$pa', '127.0.0.1:$pb']"
clients fleet "$cns" "$sns" "10.97.$a.10" 80
want="$cli 127.0.0.1:$pa $srv 127.0.0.1:$pb 8080 $N true 10.97.$a.10:80"
deadline=$((SECONDS + 60))
while :; do
  got=$("$BIN/netgraph" --prometheus "http://127.0.0.1:$pp" --range 10m \
    --query-filter "job=\"nettrace-nat-$$\"" -T json 2>"$T/fleet.ng.err" |
    jq -r '.nodes as $n | .edges[] | [$n[.from].name, $n[.from].host, $n[.to].name, $n[.to].host,
           .port, .count, .matched, .via] | map(tostring) | join(" ")' 2>/dev/null || true)
  [[ "$got" == "$want" ]] && break
  if [[ $SECONDS -ge $deadline ]]; then
    curl -fsS "http://127.0.0.1:$pa/metrics" | grep '^nettrace_connections_total' >&2 || true
    curl -fsS "http://127.0.0.1:$pb/metrics" | grep '^nettrace_connections_total' >&2 || true
    fail "fleet: netgraph --prometheus drew '$got', want '$want' within 60 s ($(cat "$T/fleet.ng.err"))"
  fi
  sleep 1
done
kill -TERM "$PROM_PID" 2>/dev/null; wait "$PROM_PID" 2>/dev/null || true
stop_serve "$fa" fa
stop_serve "$fb" fb
pass "fleet: two nettrace --serve --nat, Prometheus, netgraph --prometheus: $cli -> $srv :8080 x$N via 10.97.$a.10:80"

# Existing connections (the snapshot) are looked up too: one held open through
# the service before nettrace starts.
cat >"$T/hold.py" <<'PY'
import os, socket, sys, time
role, name, out = sys.argv[1], sys.argv[2], sys.argv[3]
open("/proc/self/comm", "w").write(name)
if role == "srv":
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 8080)); s.listen(4)
    print("ready", flush=True)
    c, _ = s.accept()
else:
    c = socket.create_connection((sys.argv[4], int(sys.argv[5])))
    me, peer = c.getsockname(), c.getpeername()
    open(out, "w").write("%s:%d<-%s:%d|PID=%d CMD=%s\n" % (peer[0], peer[1], me[0], me[1], os.getpid(), name))
    print("ready", flush=True)
time.sleep(3600)
PY
setsid ip netns exec "$sns" python3 "$T/hold.py" srv "$srv" - >"$T/hold.srv" 2>&1 &
NT_BG_PGIDS+=($!)
wait_ready_line "$T/hold.srv" $!
setsid ip netns exec "$cns" python3 "$T/hold.py" cli "$cli" "$T/hold.want" "10.97.$a.10" 80 >"$T/hold.cli" 2>&1 &
NT_BG_PGIDS+=($!)
wait_ready_line "$T/hold.cli" $!
"$BIN/nettrace" --snapshot --nat --port 8080,80 >"$T/snap.out" 2>"$T/snap.err" ||
  fail "snapshot: nettrace --snapshot --nat failed: $(cat "$T/snap.err")"
want=$(cat "$T/hold.want")
got=$(grep -F -x -A1 -- "$want" "$T/snap.out" || true)
[[ "$got" == "$want"$'\n'"# nat remote=10.$a.3.2:8080" ]] ||
  fail "snapshot: want the existing connect followed by its '# nat' line, got:
$(cat "$T/snap.out")"
pass "snapshot: an existing connection through the service carries its translation"
for g in "${NT_BG_PGIDS[@]}"; do kill -9 -- "-$g" 2>/dev/null || true; done
for g in "${NT_BG_PGIDS[@]}"; do wait "$g" 2>/dev/null || true; done
NT_BG_PGIDS=()
nft add chain ip "$table" post '{ type nat hook postrouting priority 100; }'
nft add rule ip "$table" post oifname "ntrs$$" masquerade
run_case masq "$cns" "$sns" "10.97.$a.10" 80
check_case masq "10.97.$a.10:80" "10.$a.3.2:8080" "10.$a.3.1"

# --- 3. a published port: host address:port -> a namespace, from the host -------
fresh_namespaces
veth_pair "$sns" ntrp$$ nts2$$ "10.$a.4.1" "10.$a.4.2"
hp=$((20000 + $$ % 10000))
nft -f - <<EOF
table ip $table {
  chain out {
    type nat hook output priority -100;
    ip daddr 10.$a.4.1 tcp dport $hp dnat to 10.$a.4.2:8080
  }
}
EOF
run_case published - "$sns" "10.$a.4.1" "$hp"
check_case published "10.$a.4.1:$hp" "10.$a.4.2:8080"
