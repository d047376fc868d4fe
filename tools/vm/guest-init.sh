#!/bin/sh
# PID 1 of the kernel-matrix guest (busybox). Runs the live scenarios for
# every backend and prints one "MATRIX <kernel> <backend> <scenario> PASS|FAIL
# <detail>" line each on the serial console, then powers off.
export PATH=/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
ip link set lo up
# What modprobe would load on a real host at the snapshot's first sock_diag
# request (run-matrix.sh puts them here).
for m in inet_diag tcp_diag; do insmod /lib/modules/$(uname -r)/$m.ko 2>/dev/null; done
K=$(uname -r)
T=/tmp
# Every verdict also goes to $T/verdicts, so that a scenario that printed none
# is caught (run_scenarios).
say() { echo "MATRIX $K $*"; echo "$*" >>$T/verdicts; }

# Expected arrow lines from workload -v output (see tools/workload).
expected() { # file pid comm
  awk -v pid="$2" -v comm="$3" '
    $1 == "conn"     { print $4 "<-" $3 "|PID=" pid " CMD=" comm }
    $1 == "accepted" { print $3 "->" $2 "|PID=" pid " CMD=" comm }' "$1"
}

start_nt() { # backend out [args]
  b=$1; out=$2; shift 2
  rm -f $T/ready
  nettrace --backend "$b" --ready-file $T/ready "$@" >"$out" 2>>$T/nt.err &
  NT=$!
  i=0
  while [ ! -e $T/ready ] && [ $i -lt 600 ]; do
    kill -0 $NT 2>/dev/null || return 1
    sleep 0.1; i=$((i + 1))
  done
  [ -e $T/ready ]
}
stop_nt() { sleep 0.5; kill -INT $NT; wait $NT; }

pair() { # backend scenario listen to [connect args]
  b=$1; s=$2; l=$3; to=$4; shift 4
  port=${l##*:}
  rm -f $T/$s.*
  if ! start_nt "$b" $T/$s.trace --port "$port"; then say "$b $s FAIL nettrace did not start: $(tail -1 $T/nt.err)"; return; fi
  workload serve --listen "$l" --comm srv-$s --count 0 -v >$T/$s.srv &
  srv=$!
  i=0; while ! grep -q ready $T/$s.srv 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
  workload connect --to "$to" --comm cli-$s -v "$@" >$T/$s.cli
  want=$(grep -c '^conn' $T/$s.cli)
  i=0; while [ "$(grep -c '^accepted' $T/$s.srv)" -lt "$want" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
  kill $srv; stop_nt
  cpid=$(awk '$1=="pid"{print $2}' $T/$s.cli); spid=$(awk '$1=="pid"{print $2}' $T/$s.srv)
  { expected $T/$s.cli "$cpid" cli-$s; expected $T/$s.srv "$spid" srv-$s; } | sort >$T/$s.want
  grep -v '^#' $T/$s.trace | grep -e "|PID=$cpid CMD=" -e "|PID=$spid CMD=" | sort >$T/$s.got
  if [ -s $T/$s.want ] && cmp -s $T/$s.want $T/$s.got; then
    say "$b $s PASS $(wc -l <$T/$s.want) exact lines"
  else
    say "$b $s FAIL want $(wc -l <$T/$s.want) lines, got $(wc -l <$T/$s.got): $(diff $T/$s.want $T/$s.got 2>/dev/null | grep '^[-+][^-+]' | head -4 | tr '\n' ' ')"
  fi
}

refused() { # backend
  b=$1
  rm -f $T/ref.*
  if ! start_nt "$b" $T/ref.json --port 9 --format json; then say "$b refused FAIL nettrace did not start"; return; fi
  workload connect --to 127.0.0.1:9 --comm cli-ref --expect-fail -v >$T/ref.cli
  stop_nt
  pid=$(awk '$1=="pid"{print $2}' $T/ref.cli)
  if grep "\"pid\":$pid," $T/ref.json | grep -q '"type":"connect"'; then
    say "$b refused FAIL reported as a connection"
  elif grep "\"pid\":$pid," $T/ref.json | grep -q '"type":"failed".*"error":"ECONNREFUSED"'; then
    say "$b refused PASS failed ECONNREFUSED, no connection"
  else
    say "$b refused FAIL no failed record: $(head -c 300 $T/ref.json)"
  fi
}

threads() { # backend: 8 threads, every connect with its own tid
  b=$1
  rm -f $T/tid.*
  if ! start_nt "$b" $T/tid.json --port 7002 --format json; then say "$b threads FAIL nettrace did not start"; return; fi
  workload serve --listen 127.0.0.1:7002 --comm srv-tid --count 0 >$T/tid.srv &
  srv=$!
  i=0; while ! grep -q ready $T/tid.srv 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
  workload connect --to 127.0.0.1:7002 --comm cli-tid -v --count 2 --threads 8 >$T/tid.cli
  kill $srv; stop_nt
  awk '$1=="conn"{print $2}' $T/tid.cli | sort >$T/tid.want
  grep '"type":"connect"' $T/tid.json | sed 's/.*"tid":\([0-9]*\).*/\1/' | sort >$T/tid.got
  n=$(sort -u $T/tid.want | wc -l)
  if [ "$n" -eq 8 ] && cmp -s $T/tid.want $T/tid.got; then say "$b threads PASS 16 connects, 8 tids"
  else say "$b threads FAIL tids differ ($n distinct wanted): want $(wc -l <$T/tid.want) connects, got $(wc -l <$T/tid.got): $(diff $T/tid.want $T/tid.got | grep '^[-+][^-+]' | head -4 | tr '\n' ' ')[nettrace: $(tail -n 2 $T/nt.err | tr '\n' ' ')]"; fi
}

# Compares the trace's lines of the given pids with the wanted ones, exactly.
check() { # backend scenario want trace pid... ('#' lines count too)
  b=$1; s=$2; w=$3; tr=$4; shift 4
  : >$T/$s.got
  for p in "$@"; do grep "|PID=$p CMD=" "$tr" >>$T/$s.got; done
  sort $T/$s.got -o $T/$s.got; sort "$w" -o "$w"
  if [ -s "$w" ] && cmp -s "$w" $T/$s.got; then
    say "$b $s PASS $(wc -l <"$w") exact lines"
  else
    say "$b $s FAIL want $(wc -l <"$w") lines, got $(wc -l <$T/$s.got): $(diff "$w" $T/$s.got 2>/dev/null | grep '^[-+][^-+]' | head -4 | tr '\n' ' ')"
  fi
}
wait_srv() { i=0; while ! grep -q ready "$1" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; }

failed_port() { # backend: refused connects carry the port the client had
  b=$1
  rm -f $T/fp*
  if ! start_nt "$b" $T/fp.trace --port 9 --failed; then say "$b failed-port FAIL nettrace did not start"; return; fi
  NTA=$NT
  if ! start_nt "$b" $T/fp.json --port 9 --format json; then say "$b failed-port FAIL nettrace did not start"; return; fi
  workload connect --to 127.0.0.1:9 --comm cli-fpe --expect-fail -v >$T/fpe.cli
  workload connect --to 127.0.0.1:9 --bind 127.0.0.1:45123 --comm cli-fpb --expect-fail -v >$T/fpb.cli
  stop_nt; NT=$NTA; stop_nt
  : >$T/fp.want
  pids=""
  for c in fpe fpb; do
    pid=$(awk '$1=="pid"{print $2}' $T/$c.cli); pids="$pids $pid"
    port=$(awk '$1=="refused"{n=split($4,l,":"); print l[n]}' $T/$c.cli)
    echo "# failed ECONNREFUSED 127.0.0.1:9<-127.0.0.1:$port|PID=$pid CMD=cli-$c" >>$T/fp.want
    if ! grep "\"pid\":$pid," $T/fp.json | grep -q "\"type\":\"failed\".*\"local_port\":$port,"; then
      say "$b failed-port FAIL no JSON failed record with local_port $port: $(grep "\"pid\":$pid," $T/fp.json | head -c 300)"; return
    fi
  done
  check "$b" failed-port $T/fp.want $T/fp.trace $pids
}

# Connects that fail inside tcp_v4_connect(), before a SYN goes out: no route
# (before SYN_SENT) and no free local port (inet_hash_connect(), after
# SYN_SENT; the guest's port range is one port, held by another connection).
# fentry and kprobe report each once, with its error, from the connect's
# return; the tracepoint backend sees only the second, from the state change,
# without the error, and the first not at all (README, Known limits).
early_fail() { # backend
  b=$1
  rm -f $T/ef*
  if ! start_nt "$b" $T/ef.json --format json; then say "$b early-fail FAIL nettrace did not start"; return; fi
  workload connect --to 10.9.9.9:7080 --comm cli-efn --expect-fail -v >$T/efn.cli
  range=$(cat /proc/sys/net/ipv4/ip_local_port_range)
  echo "40000 40000" >/proc/sys/net/ipv4/ip_local_port_range
  workload serve --listen 127.0.0.1:7080 --comm srv-ef --count 0 --hold -v >$T/ef.srv &
  srv=$!
  wait_srv $T/ef.srv
  workload connect --to 127.0.0.1:7080 --comm cli-efh --hold -v >$T/efh.cli &
  cli=$!
  i=0; while ! grep -q '^held' $T/efh.cli 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
  workload connect --to 127.0.0.1:7080 --comm cli-efp --expect-fail -v >$T/efp.cli
  echo "$range" >/proc/sys/net/ipv4/ip_local_port_range
  kill $srv $cli
  stop_nt
  np=$(awk '$1=="pid"{print $2}' $T/efn.cli); pp=$(awk '$1=="pid"{print $2}' $T/efp.cli)
  # what the clients saw: ENETUNREACH (101) and EADDRNOTAVAIL (99)
  seen="$(awk '$1=="refused"{print $3}' $T/efn.cli) $(awk '$1=="refused"{print $3}' $T/efp.cli)"
  n_all=$(grep -c "\"pid\":$np," $T/ef.json); p_all=$(grep -c "\"pid\":$pp," $T/ef.json)
  n_err=$(grep "\"pid\":$np," $T/ef.json | grep -c '"type":"failed".*"error":"ENETUNREACH"')
  p_failed=$(grep "\"pid\":$pp," $T/ef.json | grep -c '"type":"failed"')
  p_err=$(grep "\"pid\":$pp," $T/ef.json | grep -c '"type":"failed".*"error":"EADDRNOTAVAIL"')
  if [ "$seen" != "101 99" ]; then
    say "$b early-fail FAIL the clients saw errors '$seen', want '101 99' (ENETUNREACH, EADDRNOTAVAIL)"
  elif [ "$b" = tracepoint ]; then
    if [ "$n_all" -eq 0 ] && [ "$p_all" -eq 1 ] && [ "$p_failed" -eq 1 ]; then say "$b early-fail PASS no route: nothing; no free port: one failed record"
    else say "$b early-fail FAIL want nothing for no route and one failed record for no free port, got $n_all and $p_all records: $(grep -e "\"pid\":$np," -e "\"pid\":$pp," $T/ef.json | head -c 400)"; fi
  elif [ "$n_all" -eq 1 ] && [ "$n_err" -eq 1 ] && [ "$p_all" -eq 1 ] && [ "$p_err" -eq 1 ]; then
    say "$b early-fail PASS one failed record each, ENETUNREACH and EADDRNOTAVAIL"
  else
    say "$b early-fail FAIL want one failed record each (ENETUNREACH, EADDRNOTAVAIL), got $n_all and $p_all records: $(grep -e "\"pid\":$np," -e "\"pid\":$pp," $T/ef.json | head -c 400)"
  fi
}

selfconn() { # backend: a self-connect is one connect of that process
  b=$1
  rm -f $T/self*
  if ! start_nt "$b" $T/self.trace --port 7010; then say "$b self-connect FAIL nettrace did not start"; return; fi
  workload connect --to 127.0.0.1:7010 --bind 127.0.0.1:7010 --comm cli-self -v >$T/self.cli
  stop_nt
  pid=$(awk '$1=="pid"{print $2}' $T/self.cli)
  expected $T/self.cli "$pid" cli-self >$T/self.want
  grep -qx "127.0.0.1:7010<-127.0.0.1:7010|PID=$pid CMD=cli-self" $T/self.want || { say "$b self-connect FAIL the workload did not connect to itself"; return; }
  check "$b" self-connect $T/self.want $T/self.trace "$pid"
}

families() { # backend: -4/-6 on a dual-stack server, as printed
  b=$1
  rm -f $T/ds* $T/f4* $T/f6*
  if ! start_nt "$b" $T/f4.trace --port 7011 -4; then say "$b family FAIL nettrace did not start"; return; fi
  NTA=$NT
  if ! start_nt "$b" $T/f6.trace --port 7011 -6; then say "$b family FAIL nettrace did not start"; return; fi
  workload serve --listen "[::]:7011" --comm srv-ds --count 0 -v >$T/ds.srv &
  srv=$!
  wait_srv $T/ds.srv
  workload connect --to 127.0.0.1:7011 --comm cli-ds4 -v >$T/ds4.cli
  workload connect --to "[::ffff:127.0.0.1]:7011" --comm cli-dsm -v >$T/dsm.cli
  workload connect --to "[::1]:7011" --comm cli-ds6 -v >$T/ds6.cli
  i=0; while [ "$(grep -c '^accepted' $T/ds.srv)" -lt 3 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
  kill $srv; stop_nt; NT=$NTA; stop_nt
  c4=$(awk '$1=="pid"{print $2}' $T/ds4.cli); cm=$(awk '$1=="pid"{print $2}' $T/dsm.cli); c6=$(awk '$1=="pid"{print $2}' $T/ds6.cli)
  expected $T/ds.srv "$srv" srv-ds >$T/ds.all
  { expected $T/ds4.cli "$c4" cli-ds4; expected $T/dsm.cli "$cm" cli-dsm; grep -v '\[' $T/ds.all; } >$T/f4.want
  { expected $T/ds6.cli "$c6" cli-ds6; grep '\[' $T/ds.all; } >$T/f6.want
  if [ "$(wc -l <$T/f4.want)" -ne 4 ] || [ "$(wc -l <$T/f6.want)" -ne 2 ]; then say "$b family FAIL the workload saw $(cat $T/ds.srv | tr '\n' ' ')"; return; fi
  check "$b" family-4 $T/f4.want $T/f4.trace "$c4" "$cm" "$c6" "$srv"
  check "$b" family-6 $T/f6.want $T/f6.trace "$c4" "$cm" "$c6" "$srv"
}

# More server threads waiting in accept() at once than the kernel gives a
# kretprobe instances (one per CPU without CONFIG_PREEMPTION, as Debian 11's
# 5.10; ten with it): every accept must still be seen. The servers start after
# nettrace, so each enters accept() under the probes.
blocked() { # backend
  b=$1
  rm -f $T/blk*
  if ! start_nt "$b" $T/blk.trace; then say "$b blocked-accepts FAIL nettrace did not start"; return; fi
  ports="7050 7051 7052 7053 7054 7055 7056 7057 7058 7059 7060 7061"
  srvs=""
  for q in $ports; do
    workload serve --listen 127.0.0.1:$q --comm srv-b$q --count 1 -v >$T/blk$q.srv &
    srvs="$srvs $!"
  done
  for q in $ports; do wait_srv $T/blk$q.srv; done
  for q in $ports; do workload connect --to 127.0.0.1:$q --comm cli-b$q -v >$T/blk$q.cli; done
  wait $srvs
  stop_nt
  : >$T/blk.want; pids=""
  for q in $ports; do
    cp=$(awk '$1=="pid"{print $2}' $T/blk$q.cli); sp=$(awk '$1=="pid"{print $2}' $T/blk$q.srv)
    pids="$pids $cp $sp"
    { expected $T/blk$q.cli "$cp" cli-b$q; expected $T/blk$q.srv "$sp" srv-b$q; } >>$T/blk.want
  done
  check "$b" blocked-accepts $T/blk.want $T/blk.trace $pids
}

portlist() { # backend: --port with two ports of three
  b=$1
  rm -f $T/pl*
  if ! start_nt "$b" $T/pl.trace --port 7020,7021; then say "$b port-list FAIL nettrace did not start"; return; fi
  : >$T/pl.want; pids=""
  for q in 7020 7021 7022; do
    workload serve --listen 127.0.0.1:$q --comm srv-pl$q --count 1 -v >$T/pl$q.srv &
    wait_srv $T/pl$q.srv
    workload connect --to 127.0.0.1:$q --comm cli-pl$q -v >$T/pl$q.cli
    wait $!
    cp=$(awk '$1=="pid"{print $2}' $T/pl$q.cli); sp=$(awk '$1=="pid"{print $2}' $T/pl$q.srv)
    pids="$pids $cp $sp"
    [ $q = 7022 ] && continue
    { expected $T/pl$q.cli "$cp" cli-pl$q; expected $T/pl$q.srv "$sp" srv-pl$q; } >>$T/pl.want
  done
  stop_nt
  check "$b" port-list $T/pl.want $T/pl.trace $pids
}

closes() { # backend: each connection end a close record, owned by its process, exact bytes
  b=$1
  rm -f $T/cl.*
  if ! start_nt "$b" $T/cl.json --port 7030 --format json; then say "$b close FAIL nettrace did not start"; return; fi
  workload serve --listen 127.0.0.1:7030 --comm srv-cl --count 3 --read -v >$T/cl.srv &
  srv=$!
  wait_srv $T/cl.srv
  workload connect --to 127.0.0.1:7030 --comm cli-cl -v --count 3 --send 100000 >$T/cl.cli
  wait $srv
  stop_nt
  cp=$(awk '$1=="pid"{print $2}' $T/cl.cli); sp=$(awk '$1=="pid"{print $2}' $T/cl.srv)
  # Each client sent 100000 bytes and the server read them all before
  # closing: exactly that on both ends, nothing the other way.
  out=$(grep '"type":"close","ts_ns":[0-9]*,"direction":"out"' $T/cl.json | grep "\"pid\":$cp,.*\"comm\":\"cli-cl\"" | grep -c '"bytes_sent":100000,"bytes_received":0,')
  in=$(grep '"type":"close","ts_ns":[0-9]*,"direction":"in"' $T/cl.json | grep "\"pid\":$sp,.*\"comm\":\"srv-cl\"" | grep -c '"bytes_sent":0,"bytes_received":100000,')
  if [ "$out" -eq 3 ] && [ "$in" -eq 3 ]; then say "$b close PASS 3 closes on each end, 100000 bytes each"
  else say "$b close FAIL $out client and $in server closes with 100000 bytes, want 3 each: $(grep '"type":"close"' $T/cl.json | head -2 | tr '\n' ' ')"; fi
}

snapshot() { # backend: connections held open before nettrace starts come first, once
  b=$1
  rm -f $T/snap*
  workload serve --listen 127.0.0.1:7040 --comm srv-snap --count 0 --hold -v >$T/snap.srv &
  srv=$!
  wait_srv $T/snap.srv
  workload connect --to 127.0.0.1:7040 --comm cli-snap --count 2 --hold -v >$T/snap.cli &
  cli=$!
  i=0; while ! grep -q '^held' $T/snap.cli 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
  i=0; while [ "$(grep -c '^accepted' $T/snap.srv)" -lt 2 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
  if ! start_nt "$b" $T/snap.trace --port 7040; then say "$b snapshot FAIL nettrace did not start"; kill $srv $cli; return; fi
  stop_nt
  kill $srv $cli
  cp=$(awk '$1=="pid"{print $2}' $T/snap.cli); sp=$(awk '$1=="pid"{print $2}' $T/snap.srv)
  { echo "# snapshot 4 connections"; expected $T/snap.cli "$cp" cli-snap; expected $T/snap.srv "$sp" srv-snap; } | sort >$T/snap.want
  sort $T/snap.trace >$T/snap.got
  if cmp -s $T/snap.want $T/snap.got; then say "$b snapshot PASS 4 existing ends after the marker, nothing twice"
  else say "$b snapshot FAIL $(diff $T/snap.want $T/snap.got | grep '^[-+][^-+]' | head -4 | tr '\n' ' ')[nettrace: $(tail -n 2 $T/nt.err | tr '\n' ' ')]"; fi
}

# The scenarios every backend that loads runs, in order. Each is a function
# above taking the backend's name, which prints at least one verdict line with
# say "<backend> <check> PASS|FAIL <detail>" (each PASS or FAIL line counts).
# To add one (close records, snapshots...): write the function, add its name
# here; run-matrix.sh and the vm_matrix test need no change.
ipv4() { pair "$1" ipv4 127.0.0.1:7000 127.0.0.1:7000 --count 3; }
# A machine where tracefs is not mounted (nor debugfs, whose tracing/ would
# mount it): the backends with syscall tracepoints (tracepoint, and kprobe
# for its accepts) mount it themselves; every backend still gives its lines.
no_tracefs() {
  umount /sys/kernel/debug 2>/dev/null
  umount /sys/kernel/tracing 2>/dev/null
  if [ -e /sys/kernel/tracing/events ]; then say "$1 no-tracefs FAIL tracefs could not be unmounted"; return; fi
  pair "$1" no-tracefs 127.0.0.1:7090 127.0.0.1:7090 --count 2
  mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
  mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
}
ipv6() { pair "$1" ipv6 "[::1]:7001" "[::1]:7001" --count 3; }
SCENARIOS="ipv4 ipv6 threads blocked closes refused failed_port early_fail selfconn families portlist snapshot no_tracefs"

# (Shell functions share their variables: the scenarios set b, s, n...,
# so this loop keeps to names of its own.)
run_scenarios() { # backend
  for _sc in $SCENARIOS; do
    _nv=$(wc -l <$T/verdicts)
    $_sc "$1"
    [ "$(wc -l <$T/verdicts)" -gt "$_nv" ] || say "$1 $_sc FAIL printed no verdict"
  done
}

# The verifier's reasons, for whoever reads the console log.
verifier_log() { # backend
  nettrace --backend "$1" -v -d 1 2>&1 >/dev/null | grep -v '^libbpf: CO-RE\|^libbpf: sec\|^libbpf: map\|^libbpf: elf' | tail -n 25 | sed 's/^/MATRIX-LOG /'
}
# --info explains every failure in words (explain_failure, src/tracer/backend.cpp):
# its two answers that name no cause count as a failure of the matrix.
info_explained() { # check info-file
  vague=$(grep -E '^  [a-z]+ +fails: (the kernel.s verifier rejected|the [a-z]+ backend failed at)' "$2" | tr -s ' ' | tr '\n' ';')
  named=$(grep -E '^  [a-z]+ +fails: ' "$2" | tr -s ' ' | tr '\n' ';')
  if [ -n "$vague" ]; then
    say "info $1 FAIL no cause named: $vague"
    for v in $(grep -E '^  [a-z]+ +fails: (the kernel.s verifier rejected|the [a-z]+ backend failed at)' "$2" | awk '{ print $1 }'); do verifier_log "$v"; done
  else say "info $1 PASS $(grep -cE '^  [a-z]+ +fails: ' "$2") failures, each named${named:+: $named}"; fi
}

: >$T/verdicts
nettrace --info >$T/info 2>&1
cat $T/info
info_explained explained $T/info
# Debian's kernels have kprobes and trampolines: all three backends must load
# here (below), and the rule the host's live tests use must say so too.
rule=$(expected-backends | tr '\n' ' ')
if [ "$rule" = "fentry tracepoint kprobe " ]; then say "rule expected-backends PASS $rule"
else say "rule expected-backends FAIL names '$rule', not all three: $(expected-backends --why | tr '\n' ' ')"; fi
for b in fentry tracepoint kprobe; do
  if ! grep -q "^  $b *loads+attaches" $T/info; then
    say "$b load FAIL $(grep "^  $b " $T/info)"
    verifier_log "$b"
    continue
  fi
  say "$b load PASS"
  run_scenarios "$b"
done
# auto must pick what --info calls cheapest.
want=$(awk '/^auto picks:/ { print $3 }' $T/info)
nettrace -d 1 >/dev/null 2>$T/auto.err
got=$(sed -n 's/^nettrace: tracing with the \([a-z]*\) backend.*/\1/p' $T/auto.err)
if [ -n "$want" ] && [ "$want" = "$got" ]; then say "auto choice PASS picks $got, as --info says"
else say "auto choice FAIL --info says '$want', auto used '$got': $(cat $T/auto.err)"; fi
# Last, as it cannot be undone: under lockdown=confidentiality the kernel
# refuses kprobes and reading kernel memory, so backends fail here on every
# kernel of the matrix, and --info must still name each cause.
if echo confidentiality >/sys/kernel/security/lockdown 2>/dev/null; then
  nettrace --info >$T/info.locked 2>&1
  if grep -qE '^  [a-z]+ +fails: ' $T/info.locked; then info_explained locked-down $T/info.locked
  else say "info locked-down FAIL no backend failed under lockdown=confidentiality: $(grep -E '^  [a-z]+ ' $T/info.locked | tr -s ' ' | tr '\n' ';')"; fi
else
  say "info locked-down FAIL cannot raise /sys/kernel/security/lockdown to confidentiality: $(cat /sys/kernel/security/lockdown 2>&1)"
fi
echo "MATRIX-DONE $K"
poweroff -f
