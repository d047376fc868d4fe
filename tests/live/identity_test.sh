#!/usr/bin/env bash
# Every record names its process beyond pid and comm (issue 13), checked
# against what the test's own processes saw of themselves:
#   - a client whose file name is longer than comm's 15 bytes: exe is its whole
#     path, and netgraph labels it with that name;
#   - clients placed in cgroups named like Docker's, containerd's under a
#     Kubernetes burstable pod, and a systemd service's get the container id,
#     pod UID, QoS class and unit parsed right, and ppid and start_ns are the
#     ones in their /proc/self/stat;
#   - one pid used by two processes, one after the other: two netgraph nodes;
#   - hostile bytes in a cgroup name and in a command line stay inside their
#     JSON string: one record per line, read back byte for byte.
# The cgroups are made under a directory of our own and removed at the end.
source "$(dirname "$0")/../hardening/lib.sh"
need_root

cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/self/mounts)
if [[ -z $cg2 ]]; then
  [[ "${CI:-}" == "true" ]] && fail "CI must have a cgroup v2 hierarchy mounted"
  echo "SKIP: no cgroup v2 hierarchy mounted"
  exit 77
fi
command -v cc >/dev/null || fail "no C compiler (cc) for the test client"

top=nttest$$
root=$cg2/$top
remove_cgroups() {
  [[ -d $root ]] && find "$root" -mindepth 0 -depth -type d -exec rmdir {} + 2>/dev/null || true
}
trap 'remove_cgroups; cleanup' EXIT

# The client, under a name longer than 15 bytes.
long=ntidentity-client-with-a-long-name-$$
client=$T/$long
cc -O1 -o "$client" "$(dirname "$0")/identity_client.c" || fail "cannot build the test client"
comm=${long:0:15}

id_docker=$(printf 'd%063x' $$)
id_cri=$(printf 'c%063x' $$)
pod=5e3c1f2a-9b7d-4c1e-8a2f-$(printf '%012x' $$)
unit=ntid$$.service
hostile=$'ev"il\\ \x01\x7f{"type":"connect"}'
declare -A cgpath=(
  [docker]=/$top/system.slice/docker-$id_docker.scope
  [k8s]=/$top/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${pod//-/_}.slice/cri-containerd-$id_cri.scope
  [service]=/$top/system.slice/$unit
  [hostile]=/$top/$hostile
)
for k in "${!cgpath[@]}"; do mkdir -p "$cg2${cgpath[$k]}" || fail "cannot make cgroup ${cgpath[$k]}"; done

port=$(free_port)
cat >"$T/server.py" <<'PY'
import socket, sys
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(64)
print("ready", flush=True)
keep = []
while True:
    keep.append(srv.accept()[0])
PY
setsid python3 "$T/server.py" "$port" >"$T/server.log" 2>&1 &
server_pid=$!; NT_BG_PGIDS+=("$server_pid")
wait_ready_line "$T/server.log" "$server_pid"

# A pid to reuse: ahead of the ones being handed out now, and free.
pid_max=$(cat /proc/sys/kernel/pid_max)
reuse=$(cat /proc/sys/kernel/ns_last_pid)
for _ in $(seq 1 100); do
  reuse=$(( (reuse + 2000) % (pid_max - 1000) + 500 ))
  [[ -e /proc/$reuse ]] || break
done

start_nettrace "$T/trace.json" --format json --port "$port"
for k in docker k8s service; do
  "$client" "$port" 600 "$cg2${cgpath[$k]}/cgroup.procs" 0 "$T/seen.$k" "$k" ||
    fail "client in the $k cgroup failed ($?)"
done
"$client" "$port" 600 "$cg2${cgpath[hostile]}/cgroup.procs" 0 "$T/seen.hostile" \
  $'line\nbreak' '"quoted" \back' $'\x01\x1b[31m' || fail "hostile client failed ($?)"
"$client" "$port" 400 - "$reuse" "$T/seen.reuse" reuse ||
  fail "could not run two processes with pid $reuse one after the other ($?)"
sleep 0.3
stop_nettrace

# What each client saw, against its connect record.
python3 - "$T" "$client" "$comm" "$id_docker" "$id_cri" "$pod" "$unit" "$port" "$cg2" \
  "${cgpath[docker]}" "${cgpath[k8s]}" "${cgpath[service]}" "${cgpath[hostile]}" <<'PY' || exit 1
import json, sys
T, exe, comm, id_docker, id_cri, pod, unit, port, cg2 = sys.argv[1:10]
paths = dict(zip(["docker", "k8s", "service", "hostile"], sys.argv[10:14]))
lines = open(T + "/trace.json", "rb").read().split(b"\n")
assert lines[-1] == b"", "the trace does not end with a newline"
recs = [json.loads(l) for l in lines[:-1]]  # every line one object: nothing broke a line
by_port = {r["local_port"]: r for r in recs if r["type"] == "connect" and r["comm"] == comm}
def fail(msg):
    print("FAIL:", msg); sys.exit(1)
want = {
    "docker": {"container": id_docker},
    "k8s": {"container": id_cri, "pod": pod, "pod_qos": "burstable"},
    "service": {"unit": unit},
    "hostile": {},
}
args = {"docker": ["docker"], "k8s": ["k8s"], "service": ["service"],
        "hostile": ["line\nbreak", '"quoted" \\back', "\x01\x1b[31m"]}
def unescape(s):  # the comm escaping: \\ and \xHH
    out, i = bytearray(), 0
    while i < len(s):
        if s[i] == "\\" and s[i + 1] == "\\":
            out.append(0x5c); i += 2
        elif s[i] == "\\" and s[i + 1] == "x":
            out.append(int(s[i + 2:i + 4], 16)); i += 4
        else:
            out += s[i].encode(); i += 1
    return out.decode("utf-8", "surrogateescape")
seen_reuse = []
for k in ["docker", "k8s", "service", "hostile", "reuse"]:
    for line in open(f"{T}/seen.{k}"):
        pid, ppid, start, lport = map(int, line.split())
        r = by_port.get(lport)
        if r is None:
            fail(f"{k}: no connect record from local port {lport}")
        if k == "reuse":
            seen_reuse.append(pid)
        got = {f: r.get(f, "") for f in ["container", "pod", "pod_qos", "unit"]}
        exp = {f: "" for f in got}
        exp.update(want.get(k, {}))
        checks = [("pid", r["pid"], pid), ("ppid", r.get("ppid"), ppid),
                  ("start_ns in ticks", r.get("start_ns", 0) // 10**7, start),
                  ("exe", unescape(r.get("exe", "")), exe)]
        if k != "reuse":
            argv = [exe, port, "600", cg2 + paths[k] + "/cgroup.procs", "0", f"{T}/seen.{k}"] + args[k]
            checks.append(("cgroup", unescape(r.get("cgroup", "")), paths[k]))
            checks.append(("cmdline", unescape(r.get("cmdline", "")), " ".join(argv)))
        checks += [(f, got[f], exp[f]) for f in got]
        for what, g, w in checks:
            if g != w:
                fail(f"{k}: {what} is {g!r}, the process saw {w!r}")
        print(f"PASS: {k} (pid {pid}): pid, ppid, start, exe, cgroup, cmdline, container, pod, qos, unit as the process saw them")
if len(seen_reuse) != 2 or seen_reuse[0] != seen_reuse[1]:
    fail(f"the reuse clients had pids {seen_reuse}, want one pid twice")
PY

# The snapshot's records carry the same identity: a client in the Docker-like
# cgroup holds its connection open while nettrace --snapshot runs.
"$client" "$port" 5000 "$cg2${cgpath[docker]}/cgroup.procs" 0 "$T/seen.snap" snap &
snap_client=$!; NT_BG_PIDS+=("$snap_client")
for _ in $(seq 1 100); do [[ -s $T/seen.snap ]] && break; sleep 0.02; done
"$BIN/nettrace" --snapshot --format json --port "$port" >"$T/snap.json" 2>>"$T/nettrace.err" ||
  fail "nettrace --snapshot failed: $(cat "$T/nettrace.err")"
kill "$snap_client" 2>/dev/null || true
wait "$snap_client" 2>/dev/null || true
python3 - "$T/snap.json" "$server_pid" "$T/seen.snap" "$client" "$id_docker" <<'PY' || exit 1
import json, os, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
server, exe, container = int(sys.argv[2]), sys.argv[4], sys.argv[5]
pid, ppid, start, lport = map(int, open(sys.argv[3]).read().split())
def proc_view(p):
    stat = open(f"/proc/{p}/stat").read()
    f = stat[stat.rindex(")") + 2:].split()
    return {"ppid": int(f[1]), "start_ticks": int(f[19]), "exe": os.readlink(f"/proc/{p}/exe")}
def fail(msg):
    print("FAIL: snapshot:", msg); sys.exit(1)
ends = {(r["direction"], r["pid"]): r for r in recs if r["type"] == "existing" and
        lport in (r["local_port"], r["remote_port"])}
out, inn = ends.get(("out", pid)), ends.get(("in", server))
if not out or not inn:
    fail(f"the held connection is not there from both ends: {sorted(ends)}")
for r, want in ((out, {"ppid": ppid, "start_ticks": start, "exe": exe}), (inn, proc_view(server))):
    got = {"ppid": r.get("ppid"), "start_ticks": r.get("start_ns", 0) // 10**7, "exe": r.get("exe")}
    if got != want:
        fail(f"pid {r['pid']}: identity {got}, the process saw {want}")
if out.get("container") != container:
    fail(f"the client's container is {out.get('container')!r}, want {container}")
print("PASS: snapshot: both ends of a held connection carry ppid, start and exe, the client its container")
PY

# netgraph: the reused pid is two processes, labelled with the whole name.
"$BIN/netgraph" --group-by pid -T json "$T/trace.json" -o "$T/graph.json" 2>/dev/null
python3 - "$T/graph.json" "$long" "$reuse" <<'PY' || exit 1
import json, sys
g = json.load(open(sys.argv[1]))
long, reuse = sys.argv[2], int(sys.argv[3])
mine = [n for n in g["nodes"] if n["name"] == long]
if len(mine) != 6:
    print(f"FAIL: {len(mine)} nodes named {long}, want 6 (4 clients and two with pid {reuse})"); sys.exit(1)
if sum(n["pid"] == reuse for n in mine) != 2:
    print(f"FAIL: pid {reuse} is not two nodes: {[n['label'] for n in mine]}"); sys.exit(1)
print(f"PASS: netgraph: pid {reuse} used twice is two nodes, each labelled {long}")
PY
pass "identity of live processes"
