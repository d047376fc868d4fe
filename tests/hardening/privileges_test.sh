#!/usr/bin/env bash
# Without privilege nettrace says so in one line with its documented exit code;
# with --user it attaches as root, then drops to that user with no capabilities
# left and keeps tracing.
source "$(dirname "$0")/lib.sh"
need_root
id nobody >/dev/null 2>&1 || fail "this machine has no user 'nobody'"

# Unprivileged: setpriv drops to nobody with an empty capability set.
rc=0
setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --bounding-set=-all \
  "$BIN/nettrace" -d 1 >"$T/unpriv.out" 2>"$T/unpriv.err" || rc=$?
[[ $rc -eq 2 ]] || fail "unprivileged run exited $rc (want 2): $(cat "$T/unpriv.err")"
[[ $(wc -l <"$T/unpriv.err") -eq 1 ]] || fail "unprivileged run printed more than one line: $(cat "$T/unpriv.err")"
grep -qi 'root\|CAP_BPF' "$T/unpriv.err" || fail "the error does not say what to do: $(cat "$T/unpriv.err")"
[[ ! -s "$T/unpriv.out" ]] || fail "unprivileged run wrote to stdout"
pass "unprivileged: one line, exit 2: $(cat "$T/unpriv.err")"

# --user nobody: after attaching, the process runs as nobody with no capabilities.
port=$(free_port)
start_nettrace "$T/user.out" --user nobody --port "$port"
sleep 0.3
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$NT_PID/status")
capeff=$(awk '/^CapEff:/ { print $2 }' "/proc/$NT_PID/status")
capprm=$(awk '/^CapPrm:/ { print $2 }' "/proc/$NT_PID/status")
[[ "$uid" == "$(id -u nobody)" ]] || fail "--user nobody: still uid $uid"
[[ "$capeff" == 0000000000000000 && "$capprm" == 0000000000000000 ]] || fail "--user nobody: capabilities left: eff $capeff prm $capprm"
"$BIN/workload" serve --listen 127.0.0.1:$port --comm nt-priv-srv --count 1 >"$T/srv.log" &
srv=$!; NT_BG_PIDS+=("$srv")
wait_ready_line "$T/srv.log" "$srv"
"$BIN/workload" connect --to 127.0.0.1:$port --comm nt-priv-cli --count 1 >/dev/null || fail "connect failed"
wait "$srv" || true
sleep 0.3
stop_nettrace
grep -q 'CMD=nt-priv-cli' "$T/user.out" || fail "after dropping to nobody nettrace stopped tracing: $(cat "$T/user.out")"
grep -q 'CMD=nt-priv-srv' "$T/user.out" || fail "after dropping to nobody the accept was not traced"
pass "--user nobody: uid $uid, no capabilities, still tracing"
