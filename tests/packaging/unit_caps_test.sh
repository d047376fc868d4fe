#!/usr/bin/env bash
# The installed nettrace, started the way the unit starts it: the unit's own
# ExecStart arguments (on a free port), with only the unit's
# CapabilityBoundingSet and no_new_privs (setpriv; there is no systemd PID 1 in
# the test container to start the unit itself). It must attach, take the
# snapshot, serve, count a connection made after the start, and run on as
# nobody with no capability. Fails if the bounding set misses one that is
# needed (the unit would fail on every host) or if --user is dropped.
source "$(dirname "$0")/lib.sh"
if [[ $(id -u) -ne 0 ]]; then skip "needs root to load BPF programs"; fi
command -v setpriv >/dev/null || skip "setpriv missing (util-linux)"
command -v curl >/dev/null || skip "curl missing: run tools/install-deps.sh"
build_and_extract

exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT")
[[ -n $exec_start && -n $caps ]] || fail "the unit has no ExecStart or CapabilityBoundingSet"
grep -q '^NoNewPrivileges=yes' "$UNIT" || fail "the unit does not set NoNewPrivileges=yes"
# setpriv's form: -all,+bpf,+perfmon,...
bounding=-all$(for c in $caps; do c=${c#CAP_}; printf ',+%s' "${c,,}"; done)
port=$((10000 + (RANDOM % 22000)))
read -ra argv <<<"$exec_start"
[[ ${argv[0]} == /usr/bin/nettrace && ${argv[1]} == --serve ]] || fail "unexpected ExecStart: $exec_start"
argv[0]=$ROOT/usr/bin/nettrace
argv[2]=127.0.0.1:$port
user=$(sed -n 's/.*--user \([^ ]*\).*/\1/p' <<<"$exec_start")
[[ -n $user ]] || fail "ExecStart has no --user"

ready=$T/ready
setsid setpriv --no-new-privs --inh-caps=-all --bounding-set="$bounding" \
  "${argv[@]}" --ready-file "$ready" >"$T/out" 2>"$T/err" &
NT_BG_PGIDS+=($!)
nt=$!
for _ in $(seq 1 200); do
  [[ -e $ready ]] && break
  kill -0 "$nt" 2>/dev/null || { cat "$T/err" >&2; fail "nettrace under the unit's bounding set ($caps) exited"; }
  sleep 0.05
done
[[ -e $ready ]] || { cat "$T/err" >&2; fail "nettrace did not become ready under $caps"; }
grep -q 'snapshot' "$T/err" && fail "snapshot trouble: $(cat "$T/err")"

# Three connects by curl; the metrics are then read through bash's /dev/tcp,
# so that reading them adds nothing to curl's edge.
for _ in 1 2 3; do
  [[ $(curl -s "127.0.0.1:$port/healthz") == ok ]] || fail "/healthz did not answer ok"
done
metrics() {
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
  cat <&3
  exec 3<&-
}
want="nettrace_connections_total{comm=\"curl\",direction=\"out\",server_addr=\"127.0.0.1\",server_port=\"$port\"} 3"
for _ in $(seq 1 100); do
  got=$(metrics | tr -d '\r' | grep -F 'nettrace_connections_total{comm="curl",direction="out"' |
    grep -F "server_port=\"$port\"" || true)
  [[ $got == "$want" ]] && break
  sleep 0.05
done
[[ $got == "$want" ]] || fail "curl's connects not counted: want '$want', got '$got'"
pass "served and counted under CapabilityBoundingSet=$caps"

# The process (setpriv exec'd it) runs on as the unit's user, with nothing.
uid=$(id -u "$user")
status=/proc/$nt/status
[[ $(awk '/^Uid:/ {print $2, $3, $4, $5}' "$status") == "$uid $uid $uid $uid" ]] ||
  fail "not running as $user: $(grep ^Uid: "$status")"
for set in CapPrm CapEff CapBnd CapAmb; do
  v=$(awk -v s="$set:" '$1 == s {print $2}' "$status")
  [[ $set == CapBnd || $v == 0000000000000000 ]] || fail "$set is $v after --user"
done
[[ $(awk '/^NoNewPrivs:/ {print $2}' "$status") == 1 ]] || fail "no_new_privs not set"
pass "runs on as $user (uid $uid) with no capability and no_new_privs"
kill -INT "$nt"
rc=0
wait "$nt" || rc=$?
[[ $rc -eq 0 ]] || { cat "$T/err" >&2; fail "nettrace exited $rc after SIGINT"; }
pass "ends with status 0"

# The unit's SystemCallFilter= deny list: no system call nettrace makes while
# it attaches, takes the snapshot, drops to nobody and serves every route may
# be in it, or systemd would kill the service (seccomp cannot be applied here
# without systemd, so the calls are recorded with strace and compared with
# the groups as this systemd defines them).
command -v strace >/dev/null || skip "strace missing: run tools/install-deps.sh"
command -v systemd-analyze >/dev/null || skip "systemd-analyze missing: run tools/install-deps.sh (systemd)"
groups=$(sed -n 's/^SystemCallFilter=~//p' "$UNIT")
[[ -n $groups ]] || fail "the unit has no SystemCallFilter=~ deny list"
for g in $groups; do
  systemd-analyze syscall-filter "$g" | awk '/^ +[a-z]/ {print $1}'
done | sort -u >"$T/denied"
[[ -s $T/denied ]] || fail "systemd-analyze syscall-filter listed nothing for: $groups"
ready=$T/ready2
# LeakSanitizer cannot run under ptrace (the ASan build would abort at exit);
# the leak check is the first run's business.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 setsid strace -f -qq -o "$T/strace.log" setpriv --no-new-privs --inh-caps=-all \
  --bounding-set="$bounding" "${argv[@]}" --ready-file "$ready" >"$T/out2" 2>"$T/err2" &
pg=$!
NT_BG_PGIDS+=("$pg")
for _ in $(seq 1 400); do
  [[ -e $ready ]] && break
  kill -0 "$pg" 2>/dev/null || { cat "$T/err2" >&2; fail "nettrace under strace exited"; }
  sleep 0.05
done
[[ -e $ready ]] || fail "nettrace under strace did not become ready"
for route in /healthz /metrics /api/events /api/connections '/api/graph?format=svg' '/api/graph?format=json' \
  '/api/events?limit=x' /nope; do
  curl -s -o /dev/null "127.0.0.1:$port$route" || fail "no answer on $route"
done
kill -INT -- "-$pg"
rc=0
wait "$pg" || rc=$?
[[ $rc -eq 0 ]] || { cat "$T/err2" >&2; fail "nettrace under strace exited $rc after SIGINT"; }
sed -E 's/^[0-9]+ +//; s/^<\.\.\. ([a-z0-9_]+) resumed.*/\1/; s/\(.*//' "$T/strace.log" |
  grep -E '^[a-z0-9_]+$' | sort -u >"$T/used"
grep -qx bpf "$T/used" || fail "strace saw no bpf() call: $(head -c 300 "$T/strace.log")"
bad=$(comm -12 "$T/used" "$T/denied")
[[ -z $bad ]] || fail "nettrace calls what SystemCallFilter= denies: $bad"
pass "none of the $(wc -l <"$T/used") system calls nettrace made is in SystemCallFilter=~$groups"
