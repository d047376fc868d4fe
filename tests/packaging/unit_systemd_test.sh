#!/usr/bin/env bash
# The .deb installed with dpkg and its unit started by a real systemd, as a
# user does it: `apt install ./nettrace_*.deb; systemctl start nettrace`.
#
# This machine has no systemd as PID 1, so the test boots one in a container:
# systemd-nspawn on a throw-away overlay of the host's own root (the upper
# layer is a tmpfs: nothing of the host changes), in its own network namespace
# (the unit's 127.0.0.1:9477 and whatever else the host's tree would start
# cannot meet the host's ports). nspawn's seccomp filter refuses bpf() and
# perf_event_open() to a container unless told; --system-call-filter adds them,
# as a host running nettrace in a container would have to. The unit itself is
# used unchanged: its capability bounding set, its SystemCallFilter and the
# rest of its sandbox are what systemd applies here.
#
# Checks: the unit starts and stays active; the process runs as nobody with
# no capability left; /healthz answers; a connection made in the container's
# network namespace after the start is in /api/events with the client's pid
# and port and counted in /metrics; `systemctl stop` ends it cleanly (status
# 0, result success, not a failure systemd would restart).
source "$(dirname "$0")/lib.sh"
if [[ $(id -u) -ne 0 ]]; then skip "needs root to boot a container and load BPF programs"; fi
for tool in systemd-nspawn curl python3; do
  command -v "$tool" >/dev/null || skip "$tool missing: run tools/install-deps.sh"
done
build_and_extract

# The container's root: the host's / read-only below a tmpfs upper layer.
M=$T/mnt
mkdir -p "$M/upper" "$M/root"
mount -t tmpfs -o size=256m nt-unit "$M/upper"
mkdir -p "$M/upper/u" "$M/upper/w"
mount -t overlay nt-unit -o "lowerdir=/,upperdir=$M/upper/u,workdir=$M/upper/w" "$M/root"
machine=nt-unit-$$
nspawn_pid=
container_down() {
  if [[ -n $nspawn_pid ]]; then
    # nspawn asks the container's systemd to power off on SIGTERM; a second
    # one ends it at once.
    kill -TERM "$nspawn_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$nspawn_pid" 2>/dev/null || true
    wait "$nspawn_pid" 2>/dev/null || true
  fi
  umount "$M/root" 2>/dev/null || umount -l "$M/root" 2>/dev/null || true
  umount "$M/upper" 2>/dev/null || umount -l "$M/upper" 2>/dev/null || true
  cleanup
}
trap container_down EXIT

cp "$DEB" "$M/root/root/nettrace.deb"
# Boot to basic.target only: the host's tree may enable servers (Prometheus,
# nftables) that have nothing to do with this test.
systemd-nspawn --quiet --register=no --keep-unit --link-journal=no \
  --machine="$machine" --directory="$M/root" --private-network \
  --capability=all --system-call-filter="bpf perf_event_open" --console=pipe \
  --boot -- systemd.unit=basic.target >"$T/boot.log" 2>&1 </dev/null &
nspawn_pid=$!

# The container's init: the systemd whose root is the overlay.
init=
for _ in $(seq 1 300); do
  for p in $(pgrep -x systemd); do
    [[ $(readlink "/proc/$p/root") == "$M/root" || $(stat -Lc %i "/proc/$p/root" 2>/dev/null) == $(stat -c %i "$M/root") ]] || continue
    grep -qE '^NSpid:.*[[:space:]]1$' "/proc/$p/status" && init=$p
  done
  [[ -n $init ]] && break
  kill -0 "$nspawn_pid" 2>/dev/null || { cat "$T/boot.log" >&2; fail "systemd-nspawn exited while booting"; }
  sleep 0.1
done
[[ -n $init ]] || { cat "$T/boot.log" >&2; fail "the container's systemd did not start"; }
in_ct() { nsenter --target "$init" --all "$@"; }
# Until its manager socket exists, systemctl cannot even ask ("Failed to
# connect to bus"): ask again until it answers, then wait for the boot's end.
state=
for _ in $(seq 1 300); do
  state=$(timeout 60 nsenter --target "$init" --all systemctl is-system-running --wait 2>&1 || true)
  [[ $state == running || $state == degraded ]] && break
  sleep 0.1
done
[[ $state == running || $state == degraded ]] || fail "the container's systemd did not finish booting: $state"

in_ct dpkg -i /root/nettrace.deb >"$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log" >&2; fail "dpkg -i refused the package"; }
in_ct systemctl daemon-reload
in_ct systemctl start nettrace || true
active=
for _ in $(seq 1 100); do
  active=$(in_ct systemctl is-active nettrace || true)
  [[ $active == active ]] && in_ct curl -fsS --max-time 2 http://127.0.0.1:9477/healthz >/dev/null 2>&1 && break
  [[ $active == failed ]] && break
  sleep 0.1
done
[[ $active == active ]] || {
  in_ct journalctl -u nettrace --no-pager >&2 || true
  fail "the unit is $active, not active"
}
in_ct curl -fsS --max-time 2 http://127.0.0.1:9477/healthz >/dev/null ||
  fail "/healthz does not answer on the unit's address"

# Who it runs as, and what it kept. MainPID is in the container's pid
# namespace; /proc inside the container reads it.
main=$(in_ct systemctl show -p MainPID --value nettrace)
[[ $main =~ ^[0-9]+$ && $main -gt 0 ]] || fail "no MainPID ($main)"
user=$(in_ct ps -o user= -p "$main" | tr -d ' ')
[[ $user == nobody ]] || fail "the service runs as '$user', not nobody"
capeff=$(in_ct awk '/^CapEff:/ {print $2}' "/proc/$main/status")
[[ $capeff == 0000000000000000 ]] || fail "the service kept capabilities: CapEff=$capeff"
pass "the unit started by systemd runs as nobody with no capability"

# A connection in the container's network namespace, from a process in the
# host's pid namespace (nsenter -n only): nettrace reports the kernel's pids,
# the ones this shell sees.
port=$((20000 + (RANDOM % 20000)))
nsenter --target "$init" --net python3 - "$port" >"$T/client" 2>&1 <<'PY' || { cat "$T/client" >&2; fail "the test connection failed"; }
import os, socket, sys
port = int(sys.argv[1])
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(4)
c = socket.create_connection(("127.0.0.1", port))
a, _ = srv.accept()
print(os.getpid(), c.getsockname()[1])
c.close(); a.close(); srv.close()
PY
read -r cpid cport <"$T/client"
want="127.0.0.1:$port<-127.0.0.1:$cport|PID=$cpid"
seen=
for _ in $(seq 1 50); do
  in_ct curl -fsS --max-time 2 "http://127.0.0.1:9477/api/events?pid=$cpid" >"$T/events" 2>/dev/null || true
  grep -q "\"remote_port\":$port" "$T/events" && grep -q "\"local_port\":$cport" "$T/events" && seen=1 && break
  sleep 0.1
done
[[ -n $seen ]] || { cat "$T/events" >&2; fail "the served events lack the connection $want"; }
in_ct curl -fsS --max-time 2 http://127.0.0.1:9477/metrics >"$T/metrics"
grep -qE "^nettrace_connections_total\{.*server_port=\"$port\".*\} [1-9]" "$T/metrics" ||
  { grep connections_total "$T/metrics" >&2; fail "/metrics does not count the connection to port $port"; }
pass "the served map holds the connection made after the start ($want)"

in_ct systemctl stop nettrace
result=$(in_ct systemctl show -p Result --value nettrace)
status=$(in_ct systemctl show -p ExecMainStatus --value nettrace)
[[ $result == success && $status == 0 ]] || fail "systemctl stop: result $result, exit status $status"
pass "systemctl stop ends it cleanly (result success, status 0)"
