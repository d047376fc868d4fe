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
ip link set lo up
K=$(uname -r)
T=/tmp
say() { echo "MATRIX $K $*"; }

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
    say "$b $s FAIL want $(wc -l <$T/$s.want) lines, got $(wc -l <$T/$s.got): $(diff $T/$s.want $T/$s.got 2>/dev/null | head -4 | tr '\n' ' ')"
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
  else say "$b threads FAIL tids differ ($n distinct wanted)"; fi
}

nettrace --info >$T/info 2>&1
cat $T/info
for b in fentry tracepoint kprobe; do
  if ! grep -q "^  $b *loads+attaches" $T/info; then
    say "$b load FAIL $(grep "^  $b " $T/info)"
    # The verifier's reasons, for whoever reads the console log.
    nettrace --backend "$b" -v -d 1 2>&1 >/dev/null | grep -v '^libbpf: CO-RE\|^libbpf: sec\|^libbpf: map\|^libbpf: elf' | tail -n 25 | sed 's/^/MATRIX-LOG /'
    continue
  fi
  say "$b load PASS"
  pair "$b" ipv4 127.0.0.1:7000 127.0.0.1:7000 --count 3
  pair "$b" ipv6 "[::1]:7001" "[::1]:7001" --count 3
  threads "$b"
  refused "$b"
done
# auto must pick what --info calls cheapest.
want=$(awk '/^auto picks:/ { print $3 }' $T/info)
nettrace -d 1 >/dev/null 2>$T/auto.err
got=$(sed -n 's/^nettrace: tracing with the \([a-z]*\) backend.*/\1/p' $T/auto.err)
if [ -n "$want" ] && [ "$want" = "$got" ]; then say "auto choice PASS picks $got, as --info says"
else say "auto choice FAIL --info says '$want', auto used '$got': $(cat $T/auto.err)"; fi
echo "MATRIX-DONE $K"
poweroff -f
