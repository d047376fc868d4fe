#!/usr/bin/env bash
# Live scenarios of issue 3, for every backend that loads on this kernel: real
# connects and accepts by test processes with known pid and name, and nettrace's
# exact lines for those pids compared with what the processes saw themselves
# (getsockname/getpeername): nothing missing, nothing extra.
#
#   scenarios_test.sh BUILD_BIN_DIR [BACKEND...]
# Without BACKENDs: every backend expected-backends.sh names for this kernel
# must load (the test fails otherwise), and every one that loads runs.
source "$(dirname "$0")/../hardening/lib.sh"
need_root
shift
W=$BIN/workload

backends=("$@")
if [[ ${#backends[@]} -eq 0 ]]; then
  "$BIN/nettrace" --info >"$T/info" 2>&1 || true
  mapfile -t backends < <(awk '$2 == "loads+attaches" { print $1 }' "$T/info")
  mapfile -t expected < <("$(dirname "$0")/expected-backends.sh")
  [[ ${#expected[@]} -gt 0 ]] || fail "expected-backends.sh names no backend for $(uname -r)"
  for e in "${expected[@]}"; do
    [[ " ${backends[*]} " == *" $e "* ]] ||
      fail "the $e backend must load on $(uname -r) ($("$(dirname "$0")/expected-backends.sh" --why | grep "^$e:")) but does not: $(grep "^  $e " "$T/info")"
  done
  echo "backends: expected here: ${expected[*]}; loading: ${backends[*]}"
fi
[[ ${#backends[@]} -gt 0 ]] || fail "no backend loads here: $("$BIN/nettrace" --info)"

# Expected arrow lines from workload -v output: "conn TID LOCAL REMOTE" and
# "accepted LOCAL REMOTE"; $2 is the pid, $3 the name.
expected_lines() {
  awk -v pid="$2" -v comm="$3" '
    $1 == "conn"     { print $4 "<-" $3 "|PID=" pid " CMD=" comm }
    $1 == "accepted" { print $3 "->" $2 "|PID=" pid " CMD=" comm }' "$1"
}

# Compares nettrace's lines for the given pids with the expected ones.
check_lines() {
  local what=$1 trace=$2 expect=$3; shift 3
  local pattern
  pattern=$(printf '|PID=%s CMD=\\|' "$@")
  pattern=${pattern%\\|}
  grep -v '^#' "$trace" | grep -e "$pattern" | sort >"$T/got" || true
  sort "$expect" >"$T/want"
  [[ -s "$T/want" ]] || fail "$what: the workload reported no connection"
  if ! cmp -s "$T/got" "$T/want"; then
    echo "--- expected (from the test processes)  +++ nettrace" >&2
    diff "$T/want" "$T/got" >&2 || true
    fail "$what: nettrace's lines differ from what the processes saw"
  fi
}

# Runs a workload pair under nettrace and checks the exact lines.
#   pair NAME BACKEND LISTEN TO [connect args...]
pair() {
  local what=$1 backend=$2 listen=$3 to=$4; shift 4
  local port=${listen##*:}
  start_nettrace "$T/$what.trace" --backend "$backend" --port "$port"
  "$W" serve --listen "$listen" --comm nt-srv-$what --count 0 -v >"$T/$what.srv" &
  local srv=$!; NT_BG_PIDS+=("$srv")
  wait_ready_line "$T/$what.srv" "$srv"
  "$W" connect --to "$to" --comm nt-cli-$what -v "$@" >"$T/$what.cli" || fail "$what: connect failed"
  local cli_pid
  cli_pid=$(awk '$1 == "pid" { print $2 }' "$T/$what.cli")
  local want
  want=$(grep -c '^conn' "$T/$what.cli")
  for _ in $(seq 1 100); do [[ $(grep -c '^accepted' "$T/$what.srv") -ge $want ]] && break; sleep 0.02; done
  kill "$srv"; wait "$srv" 2>/dev/null || true
  sleep 0.2
  stop_nettrace
  local srv_pid
  srv_pid=$(awk '$1 == "pid" { print $2 }' "$T/$what.srv")
  { expected_lines "$T/$what.cli" "$cli_pid" "nt-cli-$what"; expected_lines "$T/$what.srv" "$srv_pid" "nt-srv-$what"; } >"$T/$what.want"
  check_lines "$backend/$what" "$T/$what.trace" "$T/$what.want" "$cli_pid" "$srv_pid"
  pass "$backend/$what: $(wc -l <"$T/$what.want") exact lines"
}

for b in "${backends[@]}"; do
  # Fresh files per backend: a stale "ready" or line must never count.
  rm -f "$T"/*.srv "$T"/*.cli "$T"/*.trace "$T"/*.json "$T"/*.want
  p=$(free_port); pair ipv4 "$b" 127.0.0.1:$p 127.0.0.1:$p --count 3
  p=$(free_port); pair ipv6 "$b" "[::1]:$p" "[::1]:$p" --count 3
  p=$(free_port); pair threads "$b" 127.0.0.1:$p 127.0.0.1:$p --count 4 --threads 8
  # Threads: every connect carries the tid of the thread that made it.
  p=$(free_port)
  start_nettrace "$T/tid.json" --backend "$b" --port "$p" --format json
  "$W" serve --listen 127.0.0.1:$p --comm nt-srv-tid --count 0 >"$T/tid.srv" &
  srv=$!; NT_BG_PIDS+=("$srv")
  wait_ready_line "$T/tid.srv" "$srv"
  "$W" connect --to 127.0.0.1:$p --comm nt-cli-tid -v --count 2 --threads 8 >"$T/tid.cli" || fail "tid: connect failed"
  sleep 0.2; kill "$srv"; stop_nettrace
  awk '$1 == "conn" { print $2 }' "$T/tid.cli" | sort >"$T/tid.want"
  grep '"type":"connect"' "$T/tid.json" | grep -o '"tid":[0-9]*' | cut -d: -f2 | sort >"$T/tid.got"
  cmp -s "$T/tid.want" "$T/tid.got" || { diff "$T/tid.want" "$T/tid.got" >&2; fail "$b/tid: thread ids differ"; }
  [[ $(sort -u "$T/tid.want" | wc -l) -eq 8 ]] || fail "$b/tid: expected 8 distinct threads"
  pass "$b/tid: 16 connects from 8 threads, each with its own tid"

  # An accept() already blocked before the tracer started.
  p=$(free_port)
  "$W" serve --listen 127.0.0.1:$p --comm nt-srv-blk --count 1 -v >"$T/blk.srv" &
  srv=$!; NT_BG_PIDS+=("$srv")
  wait_ready_line "$T/blk.srv" "$srv"
  sleep 0.2  # it is in accept() now
  start_nettrace "$T/blk.trace" --backend "$b" --port "$p"
  "$W" connect --to 127.0.0.1:$p --comm nt-cli-blk -v >"$T/blk.cli" || fail "blocked: connect failed"
  wait "$srv" || fail "blocked: serve failed"
  sleep 0.2; stop_nettrace
  { expected_lines "$T/blk.cli" "$(awk '$1=="pid"{print $2}' "$T/blk.cli")" nt-cli-blk
    expected_lines "$T/blk.srv" "$srv" nt-srv-blk; } >"$T/blk.want"
  check_lines "$b/blocked-accept" "$T/blk.trace" "$T/blk.want" "$(awk '$1=="pid"{print $2}' "$T/blk.cli")" "$srv"
  pass "$b/blocked-accept: the accept blocked before attach is reported"

  # Several processes accepting on one SO_REUSEPORT port.
  p=$(free_port)
  start_nettrace "$T/rp.trace" --backend "$b" --port "$p"
  rp_pids=()
  for i in 1 2 3; do
    "$W" serve --listen 127.0.0.1:$p --comm nt-srv-rp$i --count 0 --reuseport -v >"$T/rp$i.srv" &
    rp_pids+=($!); NT_BG_PIDS+=($!)
    wait_ready_line "$T/rp$i.srv" "$!"
  done
  "$W" connect --to 127.0.0.1:$p --comm nt-cli-rp -v --count 30 >"$T/rp.cli" || fail "reuseport: connect failed"
  for _ in $(seq 1 100); do [[ $(cat "$T"/rp?.srv | grep -c '^accepted') -ge 30 ]] && break; sleep 0.02; done
  kill "${rp_pids[@]}"; sleep 0.2; stop_nettrace
  cli_pid=$(awk '$1=="pid"{print $2}' "$T/rp.cli")
  { expected_lines "$T/rp.cli" "$cli_pid" nt-cli-rp
    for i in 1 2 3; do expected_lines "$T/rp$i.srv" "${rp_pids[$((i-1))]}" nt-srv-rp$i; done; } >"$T/rp.want"
  check_lines "$b/reuseport" "$T/rp.trace" "$T/rp.want" "$cli_pid" "${rp_pids[@]}"
  pass "$b/reuseport: 30 connects, accepts attributed to $(cat "$T"/rp?.srv | grep '^accepted' | wc -l) accepts over 3 processes"

  # A refused connect: not a connection in arrow output; failed in JSON.
  p=$(free_port)
  start_nettrace "$T/ref.trace" --backend "$b" --port "$p"
  ref_arrow=$NT_PID
  start_nettrace "$T/ref.json" --backend "$b" --port "$p" --format json
  "$W" connect --to 127.0.0.1:$p --comm nt-cli-ref --expect-fail -v >"$T/ref.cli" || fail "refused: the connect did not fail"
  sleep 0.2; stop_nettrace; NT_PID=$ref_arrow; stop_nettrace
  ref_pid=$(awk '$1=="pid"{print $2}' "$T/ref.cli")
  if grep -q "PID=$ref_pid " "$T/ref.trace"; then fail "$b/refused: a refused connect was reported: $(cat "$T/ref.trace")"; fi
  grep "\"pid\":$ref_pid," "$T/ref.json" | grep -q '"type":"failed".*"error":"ECONNREFUSED"' ||
    fail "$b/refused: no failed/ECONNREFUSED record in JSON: $(cat "$T/ref.json")"
  pass "$b/refused: absent from arrow output, failed ECONNREFUSED in JSON"

  # Refused connects carry the local port the kernel had chosen, the one the
  # client's getsockname() still tells after the failure: ephemeral (picked at
  # connect, released when it failed), explicitly bound in the ephemeral
  # range, and an AF_INET6 client, each exact in '# failed' lines and JSON.
  p=$(free_port); eph=$((40000 + RANDOM % 20000))
  start_nettrace "$T/fp.trace" --backend "$b" --port "$p" --failed
  fp_arrow=$NT_PID
  start_nettrace "$T/fp.json" --backend "$b" --port "$p" --format json
  "$W" connect --to 127.0.0.1:$p --comm nt-cli-fpe --expect-fail -v >"$T/fpe.cli" || fail "failed-port: the connect did not fail"
  # A port of the ephemeral range may be taken by another test's socket: try others.
  for _ in $(seq 1 20); do
    "$W" connect --to 127.0.0.1:$p --bind 127.0.0.1:$eph --comm nt-cli-fpb --expect-fail -v >"$T/fpb.cli" 2>"$T/fpb.err" || fail "failed-port: the bound connect did not fail"
    grep -q '^refused' "$T/fpb.cli" && break
    eph=$((40000 + RANDOM % 20000))
  done
  "$W" connect --to "[::1]:$p" --comm nt-cli-fp6 --expect-fail -v >"$T/fp6.cli" || fail "failed-port: the IPv6 connect did not fail"
  sleep 0.2; stop_nettrace; NT_PID=$fp_arrow; stop_nettrace
  : >"$T/fp.want"; : >"$T/fp.jwant"; fp_pids=()
  for c in fpe fpb fp6; do
    pid=$(awk '$1=="pid"{print $2}' "$T/$c.cli"); fp_pids+=("$pid")
    # "refused TID ERRNO LOCAL REMOTE": the local address is reset after a
    # failure (0.0.0.0 / ::), the port is not; loopback's source is the peer.
    awk -v pid="$pid" -v comm="nt-cli-$c" '$1 == "refused" && $3 == 111 {
      n = split($4, l, ":"); port = l[n]; remote = $5; ip = remote; sub(/:[0-9]+$/, "", ip)
      print "# failed ECONNREFUSED " remote "<-" ip ":" port "|PID=" pid " CMD=" comm }' "$T/$c.cli" >>"$T/fp.want"
    awk -v pid="$pid" '$1 == "refused" && $3 == 111 {
      n = split($4, l, ":"); port = l[n]; ip = $5; sub(/:[0-9]+$/, "", ip); gsub(/[][]/, "", ip)
      print "\"local_ip\":\"" ip "\",\"local_port\":" port ",pid=" pid }' "$T/$c.cli" >>"$T/fp.jwant"
  done
  [[ $(wc -l <"$T/fp.want") -eq 3 ]] || fail "$b/failed-port: the workload did not report 3 refused connects: $(cat "$T"/fp?.cli)"
  grep -q "<-127.0.0.1:$eph|" "$T/fp.want" || fail "$b/failed-port: the bound client did not keep port $eph: $(cat "$T/fpb.cli")"
  pattern=$(printf '|PID=%s CMD=\\|' "${fp_pids[@]}"); pattern=${pattern%\\|}
  grep -e "$pattern" "$T/fp.trace" | sort >"$T/fp.got" || true
  sort "$T/fp.want" >"$T/fp.want.s"
  cmp -s "$T/fp.want.s" "$T/fp.got" || { diff "$T/fp.want.s" "$T/fp.got" >&2 || true; fail "$b/failed-port: '# failed' lines differ from what the clients saw"; }
  while IFS= read -r want; do
    local_part=${want%,pid=*}; pid=${want##*,pid=}
    grep '"type":"failed"' "$T/fp.json" | grep "\"pid\":$pid," | grep -qF "$local_part" ||
      fail "$b/failed-port: no JSON failed record with $local_part for pid $pid: $(grep "\"pid\":$pid," "$T/fp.json")"
  done <"$T/fp.jwant"
  pass "$b/failed-port: 3 refused connects (ephemeral, bound to $eph, IPv6) carry the client's own local port"

  # A self-connect (bound to port P, connecting to its own address and P):
  # a simultaneous open, SYN_SENT -> SYN_RECV -> ESTABLISHED. One outgoing
  # connect of that process, to itself; no accept anywhere.
  p=$(free_port)
  start_nettrace "$T/self.trace" --backend "$b" --port "$p"
  "$W" connect --to 127.0.0.1:$p --bind 127.0.0.1:$p --comm nt-cli-self -v >"$T/self4.cli" || fail "self-connect: IPv4 connect failed"
  "$W" connect --to "[::1]:$p" --bind "[::1]:$p" --comm nt-cli-self6 -v >"$T/self6.cli" || fail "self-connect: IPv6 connect failed"
  sleep 0.2; stop_nettrace
  s4=$(awk '$1=="pid"{print $2}' "$T/self4.cli"); s6=$(awk '$1=="pid"{print $2}' "$T/self6.cli")
  { expected_lines "$T/self4.cli" "$s4" nt-cli-self; expected_lines "$T/self6.cli" "$s6" nt-cli-self6; } >"$T/self.want"
  grep -qx "127.0.0.1:$p<-127.0.0.1:$p|PID=$s4 CMD=nt-cli-self" "$T/self.want" || fail "$b/self-connect: the workload did not connect to itself: $(cat "$T/self4.cli")"
  check_lines "$b/self-connect" "$T/self.trace" "$T/self.want" "$s4" "$s6"
  pass "$b/self-connect: IPv4 and IPv6 self-connects, one connect line each"

  # -4/-6 filter on the family nettrace prints: a dual-stack server on [::]
  # with an AF_INET client and an AF_INET6 client of ::ffff:127.0.0.1 (both
  # IPv4, printed as such) and a real IPv6 client of ::1.
  p=$(free_port)
  start_nettrace "$T/f4.trace" --backend "$b" --port "$p" -4
  f4=$NT_PID
  start_nettrace "$T/f6.trace" --backend "$b" --port "$p" -6
  "$W" serve --listen "[::]:$p" --comm nt-srv-ds --count 0 -v >"$T/ds.srv" &
  srv=$!; NT_BG_PIDS+=("$srv")
  wait_ready_line "$T/ds.srv" "$srv"
  "$W" connect --to 127.0.0.1:$p --comm nt-cli-ds4 -v --count 2 >"$T/ds4.cli" || fail "dual-stack: IPv4 connect failed"
  "$W" connect --to "[::ffff:127.0.0.1]:$p" --comm nt-cli-dsm -v --count 2 >"$T/dsm.cli" || fail "dual-stack: mapped connect failed"
  "$W" connect --to "[::1]:$p" --comm nt-cli-ds6 -v --count 2 >"$T/ds6.cli" || fail "dual-stack: IPv6 connect failed"
  for _ in $(seq 1 100); do [[ $(grep -c '^accepted' "$T/ds.srv") -ge 6 ]] && break; sleep 0.02; done
  kill "$srv"; wait "$srv" 2>/dev/null || true
  sleep 0.2; stop_nettrace; NT_PID=$f4; stop_nettrace
  c4=$(awk '$1=="pid"{print $2}' "$T/ds4.cli"); cm=$(awk '$1=="pid"{print $2}' "$T/dsm.cli"); c6=$(awk '$1=="pid"{print $2}' "$T/ds6.cli")
  expected_lines "$T/ds.srv" "$srv" nt-srv-ds >"$T/ds.srv.want"
  { expected_lines "$T/ds4.cli" "$c4" nt-cli-ds4; expected_lines "$T/dsm.cli" "$cm" nt-cli-dsm
    grep -v '\[' "$T/ds.srv.want" || true; } >"$T/f4.want"
  { expected_lines "$T/ds6.cli" "$c6" nt-cli-ds6; grep '\[' "$T/ds.srv.want" || true; } >"$T/f6.want"
  [[ $(wc -l <"$T/f4.want") -eq 8 && $(wc -l <"$T/f6.want") -eq 4 ]] ||
    fail "$b/family: the workload did not see 4+2 IPv4 and 2 IPv6 connections: $(cat "$T/ds.srv")"
  check_lines "$b/family -4" "$T/f4.trace" "$T/f4.want" "$c4" "$cm" "$c6" "$srv"
  check_lines "$b/family -6" "$T/f6.trace" "$T/f6.want" "$c4" "$cm" "$c6" "$srv"
  pass "$b/family: dual-stack server: -4 shows the 4 IPv4 connections (2 of them AF_INET6 to ::ffff:127.0.0.1), 8 lines; -6 the 2 IPv6 ones, 4 lines"

  # --port with a list: two servers in it, a third outside it.
  pa=$(free_port); pb=$((pa + 1)); pc=$((pa + 2))
  start_nettrace "$T/pl.trace" --backend "$b" --port "$pa,$pb"
  pl_srv=()
  for q in $pa $pb $pc; do
    "$W" serve --listen 127.0.0.1:$q --comm nt-srv-pl$q --count 1 -v >"$T/pl$q.srv" &
    pl_srv+=($!); NT_BG_PIDS+=($!)
    wait_ready_line "$T/pl$q.srv" "$!"
  done
  for q in $pa $pb $pc; do
    "$W" connect --to 127.0.0.1:$q --comm nt-cli-pl$q -v >"$T/pl$q.cli" || fail "port list: connect to $q failed"
  done
  for s in "${pl_srv[@]}"; do wait "$s" || fail "port list: a server failed"; done
  sleep 0.2; stop_nettrace
  pl_pids=("${pl_srv[@]}"); : >"$T/pl.want"
  for q in $pa $pb $pc; do
    cp=$(awk '$1=="pid"{print $2}' "$T/pl$q.cli"); pl_pids+=("$cp")
    [[ $q == "$pc" ]] && continue
    { expected_lines "$T/pl$q.cli" "$cp" nt-cli-pl$q; expected_lines "$T/pl$q.srv" "$(awk '$1=="pid"{print $2}' "$T/pl$q.srv")" nt-srv-pl$q; } >>"$T/pl.want"
  done
  check_lines "$b/port-list" "$T/pl.trace" "$T/pl.want" "${pl_pids[@]}"
  pass "$b/port-list: --port $pa,$pb shows both pairs ($(wc -l <"$T/pl.want") lines) and not port $pc"
done

# Two network namespaces joined by a veth pair: the client in one, the server
# in the other, nettrace in the root namespace sees both ends.
nsa=nt-live-a-$$ nsb=nt-live-b-$$
trap 'ip netns del $nsa 2>/dev/null; ip netns del $nsb 2>/dev/null; cleanup' EXIT
"$(dirname "$0")/../../tools/netns-pair.sh" up $nsa 10.231.0.1/24 $nsb 10.231.0.2/24
for b in "${backends[@]}"; do
  rm -f "$T"/ns.*
  p=$(free_port)
  start_nettrace "$T/ns.trace" --backend "$b" --port "$p"
  ip netns exec $nsa "$W" serve --listen 10.231.0.1:$p --comm nt-srv-ns --count 3 -v >"$T/ns.srv" &
  srv=$!; NT_BG_PIDS+=("$srv")
  wait_ready_line "$T/ns.srv" "$srv"
  ip netns exec $nsb "$W" connect --to 10.231.0.1:$p --comm nt-cli-ns --count 3 -v >"$T/ns.cli" || fail "netns: connect failed"
  wait "$srv" || fail "netns: serve failed"
  sleep 0.2; stop_nettrace
  cli_pid=$(awk '$1=="pid"{print $2}' "$T/ns.cli"); srv_pid=$(awk '$1=="pid"{print $2}' "$T/ns.srv")
  { expected_lines "$T/ns.cli" "$cli_pid" nt-cli-ns; expected_lines "$T/ns.srv" "$srv_pid" nt-srv-ns; } >"$T/ns.want"
  check_lines "$b/netns" "$T/ns.trace" "$T/ns.want" "$cli_pid" "$srv_pid"
  pass "$b/netns: client and server in two namespaces over veth, 6 exact lines"

  # A connect abandoned in SYN_SENT (to an address of the link nobody holds:
  # the SYN waits for ARP, the client gives up and closes) keeps its port too.
  rm -f "$T"/ab.*
  p=$(free_port)
  start_nettrace "$T/ab.trace" --backend "$b" --port "$p" --failed
  ip netns exec $nsb "$W" connect --to 10.231.0.77:$p --timeout-ms 300 --comm nt-cli-ab --expect-fail -v >"$T/ab.cli" || fail "abandoned: the connect did not fail"
  sleep 0.2; stop_nettrace
  ab_pid=$(awk '$1=="pid"{print $2}' "$T/ab.cli")
  ab_port=$(awk '$1 == "refused" && $3 == 115 { n = split($4, l, ":"); print l[n] }' "$T/ab.cli")
  [[ -n "$ab_port" && "$ab_port" != 0 ]] || fail "$b/abandoned: the client did not time out in SYN_SENT with a port: $(cat "$T/ab.cli")"
  echo "# failed errno=0 10.231.0.77:$p<-10.231.0.2:$ab_port|PID=$ab_pid CMD=nt-cli-ab" >"$T/ab.want"
  grep -F "|PID=$ab_pid CMD=" "$T/ab.trace" >"$T/ab.got" || true
  cmp -s "$T/ab.want" "$T/ab.got" || { diff "$T/ab.want" "$T/ab.got" >&2 || true; fail "$b/abandoned: the '# failed' line differs from what the client saw"; }
  pass "$b/abandoned: a connect closed in SYN_SENT is failed, with the client's port $ab_port"
done

# auto picks the cheapest backend that attaches, as --info reports it, and
# says on stderr which one, in one calm line (the why is for -v and --info).
want=$("$BIN/nettrace" --info | awk '/^auto picks:/ { print $3 }')
"$BIN/nettrace" -d 1 >/dev/null 2>"$T/auto.err" || fail "auto: nettrace failed: $(cat "$T/auto.err")"
grep -qx "nettrace: tracing with the $want backend; Ctrl-C to stop" "$T/auto.err" || fail "auto: --info says $want, stderr says: $(cat "$T/auto.err")"
if [[ "$want" != "$("$BIN/nettrace" --info | awk '$2 == "loads+attaches" { print $1; exit }')" ]]; then
  fail "auto: --info's pick is not the first (cheapest) backend that loads"
fi
pass "auto: $(head -1 "$T/auto.err")"
