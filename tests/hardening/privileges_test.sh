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

unpriv() { setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all --bounding-set=-all "$@"; }

# What can be checked without the kernel is checked before it: a bad --user or
# --ready-file is a usage error (exit 1, one line naming the option) both
# unprivileged (not exit 2) and as root (before any program is attached, so no
# "tracing with" line; it used to fail only after attaching).
for bad in "--user no-such-user-$$" "--ready-file /nonexistent-$$/ready"; do
  opt=${bad%% *}
  for who in unprivileged root; do
    rc=0
    if [[ $who == root ]]; then
      "$BIN/nettrace" $bad -d 1 >"$T/early.out" 2>"$T/early.err" || rc=$?
    else
      unpriv "$BIN/nettrace" $bad -d 1 >"$T/early.out" 2>"$T/early.err" || rc=$?
    fi
    [[ $rc -eq 1 ]] || fail "$who $bad: exit $rc (want 1, before touching the kernel): $(cat "$T/early.err")"
    [[ $(wc -l <"$T/early.err") -eq 1 ]] || fail "$who $bad: want one line on stderr, got: $(cat "$T/early.err")"
    grep -q -- "^nettrace: $opt: " "$T/early.err" || fail "$who $bad: the line does not name $opt: $(cat "$T/early.err")"
    [[ ! -s "$T/early.out" ]] || fail "$who $bad: wrote to stdout"
  done
  pass "$bad: exit 1 before the kernel, root or not: $(cat "$T/early.err")"
done

# --info without privilege: privileges are the reason (no backend "fails"),
# exit 2 like any unprivileged run (it used to say every backend fails, exit 4).
rc=0
unpriv "$BIN/nettrace" --info >"$T/info.out" 2>"$T/info.err" || rc=$?
[[ $rc -eq 2 ]] || fail "unprivileged --info exited $rc (want 2): $(cat "$T/info.out" "$T/info.err")"
grep -q '^privileges: no: .*root or CAP_BPF and CAP_PERFMON' "$T/info.out" || fail "unprivileged --info does not say privileges are missing: $(cat "$T/info.out")"
! grep -q 'fails' "$T/info.out" || fail "unprivileged --info claims backends fail: $(cat "$T/info.out")"
[[ $(grep -c '^  [a-z]* *not tried: .*needs root' "$T/info.out") -eq 3 ]] || fail "unprivileged --info: every backend should be 'not tried: needs root': $(cat "$T/info.out")"
pass "unprivileged --info: exit 2, privileges named as the reason"

# --info as root explains each failure in words, then the detail.
"$BIN/nettrace" --info >"$T/info.root" 2>&1 || true
while read -r name verdict rest; do
  [[ $verdict == fails: ]] || continue
  [[ $rest != *"(errno"* && -n $rest ]] || fail "--info: the $name line gives no words, only: $rest"
  if [[ $name == kprobe && ! -e /sys/bus/event_source/devices/kprobe && ! -e /sys/kernel/tracing/kprobe_events ]]; then
    [[ $rest == *"this kernel has no kprobes (CONFIG_KPROBES is off)"* ]] || fail "--info: no kprobes here, but it says: $rest"
  fi
  if [[ $name == fentry ]] && grep -q 'load: Operation not permitted' "$T/info.root"; then
    [[ $rest == "fentry refused by the kernel (EPERM): lockdown or BPF trampolines unavailable"* ]] || fail "--info: fentry got EPERM, but it says: $rest"
  fi
done < <(grep -E '^  [a-z]+ +(fails:|loads)' "$T/info.root")
pass "--info as root: every failure in words: $(grep -E '^  [a-z]+ +fails:' "$T/info.root" | sed 's/^ *//' | tr '\n' ';')"

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
