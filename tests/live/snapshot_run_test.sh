#!/usr/bin/env bash
# nettrace reports the connections that already existed when it started
# (issue 13), before the live ones, each once:
#   - connections opened before nettrace starts (IPv4 and IPv6, one end also
#     held by a forked child) come first, after "# snapshot N connections",
#     with their owner and direction, in arrow and JSON;
#   - a process that keeps opening connections while nettrace starts has
#     every one of them reported exactly once (as existing or as a new
#     connect/accept), never twice, none missing;
#   - --snapshot prints them and exits; --no-snapshot leaves them out.
source "$(dirname "$0")/../hardening/lib.sh"
need_root

hold=ntsnap$$   # process names: at most 15 bytes
churn=ntchurn$$
port=$(free_port)
port6=$(free_port)
while [[ $port6 == "$port" ]]; do port6=$(free_port); done
cport=$(free_port)
while [[ $cport == "$port" || $cport == "$port6" ]]; do cport=$(free_port); done

# Holds one IPv4 and one IPv6 loopback connection (both ends in this process,
# the connecting end's socket also inherited by a forked child) until killed;
# writes one line per end as nettrace's arrow format shows it, then "ready".
cat >"$T/hold.py" <<'PY'
import os, socket, sys, time
name, port, port6, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
open("/proc/self/comm", "w").write(name)
lines = []
keep = []
for fam, host, p in ((socket.AF_INET, "127.0.0.1", port), (socket.AF_INET6, "::1", port6)):
    srv = socket.socket(fam)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, p)); srv.listen()
    cli = socket.create_connection((host, p))
    acc, _ = srv.accept()
    keep += [srv, cli, acc]
    def ep(a):
        return ("[%s]:%d" % a[:2]) if fam == socket.AF_INET6 else ("%s:%d" % a[:2])
    pid = os.getpid()
    lines.append("%s<-%s|PID=%d CMD=%s" % (ep(cli.getpeername()), ep(cli.getsockname()), pid, name))
    lines.append("%s->%s|PID=%d CMD=%s" % (ep(acc.getpeername()), ep(acc.getsockname()), pid, name))
if os.fork() == 0:   # the child holds every socket too; the parent stays the owner
    time.sleep(3600); os._exit(0)
open(out, "w").write("\n".join(sorted(lines)) + "\n")
print("ready", flush=True)
time.sleep(3600)
PY

# Opens a connection every 3 ms to its own listener and keeps them all open,
# from before nettrace starts until the file $stopfile appears; writes both
# ends of each connection as arrow lines at the end.
cat >"$T/churn.py" <<'PY'
import os, socket, sys, time
name, port, stopfile, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
open("/proc/self/comm", "w").write(name)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(64)
print("ready", flush=True)
keep, lines, pid = [], [], os.getpid()
while not os.path.exists(stopfile) and len(keep) < 900:
    c = socket.create_connection(("127.0.0.1", port))
    a, _ = srv.accept()
    keep += [c, a]
    lp = c.getsockname()[1]
    lines.append("127.0.0.1:%d<-127.0.0.1:%d|PID=%d CMD=%s" % (port, lp, pid, name))
    lines.append("127.0.0.1:%d->127.0.0.1:%d|PID=%d CMD=%s" % (lp, port, pid, name))
    time.sleep(0.003)
open(out, "w").write("\n".join(sorted(lines)) + "\n")
print("done %d" % len(lines), flush=True)
time.sleep(3600)
PY

setsid python3 "$T/hold.py" "$hold" "$port" "$port6" "$T/hold.want" >"$T/hold.log" 2>&1 &
hold_pid=$!; NT_BG_PGIDS+=("$hold_pid")
wait_ready_line "$T/hold.log" "$hold_pid"

# 1. Arrow: the marker, then the four ends, then nothing else of theirs.
start_nettrace "$T/arrow.out" --comm "$hold"
sleep 0.3
stop_nettrace
[[ $(head -1 "$T/arrow.out") == "# snapshot 4 connections" ]] ||
  fail "arrow: the first line is not '# snapshot 4 connections': $(cat "$T/arrow.out")"
diff <(tail -n +2 "$T/arrow.out" | sort) "$T/hold.want" >"$T/arrow.diff" ||
  fail "arrow: existing lines differ from what the process holds: $(cat "$T/arrow.diff")"
grep -q "0 connections and 4 existing connections written" "$T/nettrace.err" ||
  fail "arrow: the summary does not count 4 existing connections: $(cat "$T/nettrace.err")"
pass "arrow: '# snapshot 4 connections' and the four ends, owner and direction exact"

# 2. JSON: type existing, the direction of each end.
: >"$T/nettrace.err"
start_nettrace "$T/json.out" --comm "$hold" --format json
stop_nettrace
python3 - "$T/json.out" "$T/hold.want" <<'PY' || fail "json: $(cat "$T/json.out")"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert recs[0]["type"] == "snapshot" and recs[0]["count"] == 4, recs[0]
got = []
for r in recs[1:]:
    assert r["type"] == "existing", r
    ep = lambda ip, p: ("[%s]:%d" % (ip, p)) if ":" in ip else ("%s:%d" % (ip, p))
    arrow = "->" if r["direction"] == "in" else "<-"
    got.append("%s%s%s|PID=%d CMD=%s" % (ep(r["remote_ip"], r["remote_port"]), arrow,
                                          ep(r["local_ip"], r["local_port"]), r["pid"], r["comm"]))
want = open(sys.argv[2]).read().split("\n")[:-1]
assert sorted(got) == want, (sorted(got), want)
PY
pass "json: a snapshot record, then four 'existing' records with their direction"

# 3. --snapshot: the same, and exit; --no-snapshot: none of them.
"$BIN/nettrace" --snapshot --comm "$hold" >"$T/only.out" 2>"$T/only.err" || fail "--snapshot exited $?: $(cat "$T/only.err")"
diff <(tail -n +2 "$T/only.out" | sort) "$T/hold.want" >/dev/null && [[ $(head -1 "$T/only.out") == "# snapshot 4 connections" ]] ||
  fail "--snapshot: $(cat "$T/only.out")"
# The forked child holds all four ends too: counted, not reported (-v says so).
"$BIN/nettrace" --snapshot -v --comm "$hold" >/dev/null 2>"$T/only.err" || fail "--snapshot -v exited $?"
grep -qxF "nettrace: snapshot: 4 connections are also held by other processes (fork, SCM_RIGHTS; 4 holders more): each is reported once, owned by its holder with the lowest pid" "$T/only.err" ||
  fail "--snapshot -v does not count the forked child's holds: $(cat "$T/only.err")"
: >"$T/nettrace.err"
start_nettrace "$T/none.out" --comm "$hold" --no-snapshot
stop_nettrace
[[ ! -s "$T/none.out" ]] || fail "--no-snapshot wrote lines: $(cat "$T/none.out")"
pass "--snapshot prints them and exits; --no-snapshot leaves them out"

# 4. Connections opened while nettrace starts: each exactly once.
setsid python3 "$T/churn.py" "$churn" "$cport" "$T/churn.stop" "$T/churn.want" >"$T/churn.log" 2>&1 &
churn_pid=$!; NT_BG_PGIDS+=("$churn_pid")
wait_ready_line "$T/churn.log" "$churn_pid"
sleep 0.2 # some connections before nettrace starts
: >"$T/nettrace.err"
start_nettrace "$T/churn.out" --comm "$churn"
sleep 0.5 # and some after
touch "$T/churn.stop"
for _ in $(seq 1 200); do grep -q '^done' "$T/churn.log" && break; sleep 0.05; done
grep -q '^done' "$T/churn.log" || fail "the churning process did not finish: $(cat "$T/churn.log")"
sleep 0.3
stop_nettrace
grep -v '^#' "$T/churn.out" | sort >"$T/churn.got"
dups=$(uniq -d "$T/churn.got" | wc -l)
[[ $dups -eq 0 ]] || fail "churn: $dups connection ends reported twice: $(uniq -d "$T/churn.got" | head -5)"
diff "$T/churn.got" "$T/churn.want" >"$T/churn.diff" ||
  fail "churn: reported ends differ from the ones the process opened: $(head -20 "$T/churn.diff")"
existing=$(grep -m1 '^# snapshot' "$T/churn.out" | awk '{ print $3 }')
total=$(wc -l <"$T/churn.want")
[[ -n $existing && $existing -gt 0 && $existing -lt $total ]] ||
  fail "churn: want some ends before the start and some after: snapshot '$existing' of $total"
pass "churn: $total ends, $existing of them existing at start, each reported exactly once"
