#!/usr/bin/env bash
# The Kubernetes DaemonSet (examples/kubernetes/nettrace-daemonset.yaml) run
# for real: its image built from the .deb by tools/build-image.sh
# (examples/kubernetes/Containerfile), its pod template run by `podman kube
# play` with a real OCI runtime (runc), and checked from the host the way a
# cluster operator would: /healthz answers, /metrics and /api/events hold a
# connection the test makes on the host after the pod is ready (names, pids and
# 4-tuples as the processes saw them), and the pod's nettrace runs as the
# manifest's --user with no capability left and no_new_privs.
#
# Why podman: Debian's package that runs Kubernetes pod YAML (hostPID,
# hostNetwork, securityContext capabilities, hostPath volumes, args) with a
# real OCI runtime, without a cluster. No kubelet, so the DaemonSet's
# scheduling, the Service and the ServiceMonitor are not exercised; podman 4.3
# knows no DaemonSet, so the test turns it into the Pod it makes on each node:
# the template's metadata and spec, read from the manifest (a change there is
# what gets tested), unchanged but for the house rule that test servers
# listen on loopback only: `--serve 0.0.0.0:9477` becomes 127.0.0.1 and a free
# port (the node's own port: hostNetwork), in the args and the scrape
# annotation alike; and for what podman 4.3 spells its own way (below).
#
# What podman 4.3.1 (Debian 12) makes of the rest, found from its output,
# `podman inspect` and /proc (the test checks what it applies, below):
# - Ignored, so given to podman in its own spelling, read from the manifest:
#   hostPID (kube play reads it from podman 4.5 on): containers.conf's pidns;
#   securityContext.seccompProfile (podman 4.3 reads only the annotation that
#   preceded the field): the annotation. Without Unconfined, podman's default
#   seccomp profile refuses bpf() without CAP_SYS_ADMIN and the pod's nettrace
#   exits "no backend could attach ... (Operation not permitted)": the
#   manifest's seccompProfile is needed, as its comment says.
# - Refused: `ports` on the host's network ("PortMappings can only be used
#   with Bridge or slirp4netns networking"); Kubernetes takes them as the
#   node's ports. Dropped from the pod: with hostNetwork there is nothing to map.
# - Not applied: appArmorProfile (AppArmor is not enabled on the test
#   machines' kernels either); readinessProbe; livenessProbe becomes a
#   healthcheck `curl -f http://localhost:0/healthz` (a named port is not
#   resolved) inside the container (the image has no curl), scheduled by
#   systemd timers that a machine without systemd as init lacks ("unable to
#   get systemd connection to add healthchecks"): the test asks /healthz
#   itself, from the host. resources.requests.cpu, priorityClassName,
#   tolerations, dnsPolicy, updateStrategy: scheduling, no meaning without a
#   cluster.
# - Applied: runAsUser 0 (inspect: User 0), restartPolicy (Always),
#   requests.memory (the memory cgroup's soft limit), and, checked below, the
#   image, args, hostNetwork, hostPID (as above), the capabilities (drop ALL,
#   add), allowPrivilegeEscalation false (no_new_privs),
#   readOnlyRootFilesystem, the hostPath volumes and their readOnly,
#   resources.limits.memory (the memory cgroup's limit).
#
# Usage: kube_pod_test.sh BUILD_DIR (root: the pod loads BPF programs).
BUILD=$(realpath -m "${1:?usage: $0 BUILD_DIR}")
source "$(dirname "$0")/../serve/lib.sh" "$BUILD/bin"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
MANIFEST=$SRC/examples/kubernetes/nettrace-daemonset.yaml
need_root
# catatonit: podman builds its pod's pause image with it (no registry here).
need_tools podman runc catatonit python3 curl jq dpkg-deb cpack
python3 -c 'import yaml' 2>/dev/null || need_tools python3-yaml
[[ -x $BIN/workload ]] || fail "$BIN/workload missing: build the nt_workload target (cmake --build $BUILD)"
# The base image: debian:12-slim already here, or made from the archive.
if ! podman image exists debian:12-slim && ! podman image exists localhost/debian:12-slim; then
  need_tools mmdebstrap
fi
[[ -d /sys/kernel/tracing/events ]] ||
  { [[ ${CI:-} == true ]] && fail "tracefs is not mounted"; echo "SKIP: tracefs is not mounted at /sys/kernel/tracing (mount -t tracefs none /sys/kernel/tracing)"; exit 77; }

# podman's settings for this test only (CONTAINERS_CONF, also read by the
# image build's RUN steps):
# - runc, not crun: crun refuses a hybrid cgroup tree whose v2 half has a
#   controller (crun: "cgroups in hybrid mode not supported"), as on the test
#   machines; runc runs there and on cgroup v2 alike.
# - rlimits no higher than this shell's: rootful podman asks for 1048576 open
#   files (and lowers its own process limit to 32768), which a runtime without
#   CAP_SYS_RESOURCE cannot set (setrlimit: Operation not permitted).
#   Kubernetes has no rlimit field, so this changes nothing the manifest says.
# - hostPID in the spelling podman 4.3 reads: its kube play ignores the field
#   (podman 4.5 reads it), and takes the default pid namespace from here.
nofile=$(ulimit -Hn) nproc=$(ulimit -Hu)
pidns=$(python3 -c 'import sys, yaml
(ds,) = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "DaemonSet"]
print("host" if ds["spec"]["template"]["spec"].get("hostPID") else "private")' "$MANIFEST")
[[ $nofile == unlimited ]] && nofile=1048576
[[ $nproc == unlimited || $nproc -gt 32768 ]] && nproc=32768
export CONTAINERS_CONF=$T/containers.conf
cat >"$CONTAINERS_CONF" <<CONF
[containers]
pidns = "$pidns"
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
CONF

pod=nettrace-test-$$
pod_down() {
  # Stops and removes the pod and its containers (the infra one included);
  # the images stay, so a second run reuses them.
  podman pod rm --force --time 0 "$pod" >/dev/null 2>&1 || true
  cleanup
}
trap pod_down EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The image, as a user builds it; its tag is the manifest's image.
tag=$("$SRC/tools/build-image.sh" "$BUILD" 2>"$T/build.err" | tail -1) ||
  { tail -20 "$T/build.err" >&2; fail "tools/build-image.sh failed"; }
image=$(python3 -c 'import sys, yaml
(ds,) = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "DaemonSet"]
(c,) = ds["spec"]["template"]["spec"]["containers"]
print(c["image"])' "$MANIFEST")
[[ $image == "$tag" ]] || fail "the manifest's image is '$image', tools/build-image.sh tags '$tag'"
podman run --rm --network=none --entrypoint /usr/bin/nettrace "$image" --version >"$T/version" ||
  fail "the image's nettrace does not run"
[[ $(cat "$T/version") == "$("$BIN/nettrace" --version)" ]] ||
  fail "the image's nettrace says '$(cat "$T/version")', the build's '$("$BIN/nettrace" --version)'"
pass "tools/build-image.sh built $tag from the .deb (the manifest's image): $(cat "$T/version")"

# The DaemonSet's pod, as its node would run it.
port=$(free_listen_port)
python3 - "$MANIFEST" "$pod" "$port" >"$T/pod.yaml" <<'PY' || fail "cannot make the pod from the manifest"
import sys, yaml
manifest, name, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
(ds,) = [d for d in yaml.safe_load_all(open(manifest)) if d and d["kind"] == "DaemonSet"]
tpl = ds["spec"]["template"]
meta = dict(tpl["metadata"], name=name)
# Loopback and a free port instead of 0.0.0.0:9477 (the house rule).
if "prometheus.io/port" in meta.get("annotations", {}):
    meta["annotations"]["prometheus.io/port"] = str(port)
for c in tpl["spec"]["containers"]:
    args = c.get("args", [])
    if "--serve" in args:
        i = args.index("--serve") + 1
        args[i] = f"127.0.0.1:{port}"
    # podman 4.3 refuses any port mapping on the host's network ("PortMappings
    # can only be used with Bridge or slirp4netns networking"), where
    # Kubernetes takes the port as the node's: nothing to map, so it goes.
    c.pop("ports", None)
# securityContext.seccompProfile in the spelling podman 4.3 reads (it ignores
# the field): the annotation Kubernetes used before the field, same meaning.
for c in tpl["spec"]["containers"]:
    prof = c.get("securityContext", {}).get("seccompProfile", {}).get("type")
    if prof == "Unconfined":
        meta.setdefault("annotations", {})["container.seccomp.security.alpha.kubernetes.io/" + c["name"]] = "unconfined"
pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": tpl["spec"]}
yaml.safe_dump(pod, sys.stdout, sort_keys=False)
PY
podman kube play "$T/pod.yaml" >"$T/play.out" 2>&1 || { cat "$T/play.out" >&2; fail "podman kube play failed"; }
ctr=$pod-$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["spec"]["containers"][0]["name"])' "$T/pod.yaml")

# Ready: /healthz from the host (hostNetwork: the node's loopback).
for _ in $(seq 1 300); do
  curl -fsS "http://127.0.0.1:$port/healthz" >"$T/healthz" 2>/dev/null && break
  [[ $(podman inspect --format '{{.State.Running}}' "$ctr" 2>/dev/null) == true ]] || break
  sleep 0.1
done
if [[ $(cat "$T/healthz" 2>/dev/null) != ok ]]; then
  podman logs "$ctr" >&2 || true
  fail "the pod's nettrace did not answer /healthz on 127.0.0.1:$port"
fi
pass "the pod is up: GET /healthz on the node's 127.0.0.1:$port says ok"

# Its process, from the host: hostPID makes the container's pid the host's.
pid=$(podman inspect --format '{{.State.Pid}}' "$ctr")
[[ $pid -gt 1 && $(cat "/proc/$pid/comm") == nettrace ]] || fail "container pid '$pid' is not nettrace"
# NSpid: one pid, the host's, when the process is in the host's pid namespace
# (a private one adds the pid inside it). /proc/PID/ns links are not
# readable here once nettrace has dropped to --user (not dumpable).
[[ $(awk '$1=="NSpid:"{$1=""; print substr($0, 2)}' "/proc/$pid/status") == "$pid" ]] ||
  fail "hostPID: the pod's nettrace is not in the host's pid namespace ($(grep NSpid: "/proc/$pid/status"))"
# hostNetwork: the node's loopback reached its /healthz above.
user=$(python3 -c 'import sys, yaml
(c,) = yaml.safe_load(open(sys.argv[1]))["spec"]["containers"]
print(c["args"][c["args"].index("--user") + 1])' "$T/pod.yaml")
uid=$(id -u "$user")
# Every thread: the HTTP thread too.
for task in "/proc/$pid"/task/*; do
  s=$task/status
  [[ $(awk '/^Uid:/{print $2, $3, $4, $5}' "$s") == "$uid $uid $uid $uid" ]] ||
    fail "$(basename "$task"): not running as $user ($uid): $(grep ^Uid: "$s")"
  for set in CapEff CapPrm CapAmb; do
    [[ $(awk -v k="$set:" '$1==k{print $2}' "$s") == 0000000000000000 ]] ||
      fail "$(basename "$task"): $set is $(awk -v k="$set:" '$1==k{print $2}' "$s") after start (want none)"
  done
  [[ $(awk '$1=="NoNewPrivs:"{print $2}' "$s") == 1 ]] ||
    fail "$(basename "$task"): no_new_privs is off (allowPrivilegeEscalation: false)"
done
pass "the pod's nettrace (host pid $pid, host pid and network namespaces): $user ($uid), no capability, no_new_privs, in every thread"

# What podman applied of the securityContext: the bounding set is exactly the
# manifest's capabilities (drop ALL, add ...), the root filesystem read-only.
want_caps=$(python3 -c 'import sys, yaml
(c,) = yaml.safe_load(open(sys.argv[1]))["spec"]["containers"]
print(" ".join(sorted("CAP_" + x for x in c["securityContext"]["capabilities"]["add"])))' "$T/pod.yaml")
got_caps=$(podman inspect --format '{{range .EffectiveCaps}}{{.}} {{end}}' "$ctr" | tr ' ' '\n' | grep . | sort | xargs)
[[ $got_caps == "$want_caps" ]] || fail "podman gave the container '$got_caps', the manifest asks '$want_caps'"
pass "podman gave the container exactly the manifest's capabilities: $want_caps"
# The rest, as the process sees it: the mounts (readOnlyRootFilesystem, the
# hostPath volumes at their mountPaths, read-only where the manifest says), the
# seccomp filter (none: seccompProfile Unconfined, through the annotation) and
# the memory limit (resources.limits.memory, in the container's memory cgroup).
python3 - "$T/pod.yaml" "/proc/$pid" <<'PY' || fail "the pod's process does not have what the manifest asks"
import sys, yaml
pod, proc = yaml.safe_load(open(sys.argv[1])), sys.argv[2]
(c,) = pod["spec"]["containers"]
sc = c["securityContext"]
mounts = {}
for line in open(proc + "/mountinfo"):
    f = line.split()
    mounts[f[4]] = set(f[5].split(","))
if sc.get("readOnlyRootFilesystem"):
    assert "ro" in mounts["/"], f"the root is not read-only: {mounts['/']}"
for m in c.get("volumeMounts", []):
    assert m["mountPath"] in mounts, f"volume {m['name']} not mounted at {m['mountPath']}"
    want = "ro" if m.get("readOnly") else "rw"
    assert want in mounts[m["mountPath"]], f"{m['mountPath']} is not {want}: {mounts[m['mountPath']]}"
status = dict(l.split(":", 1) for l in open(proc + "/status"))
if sc.get("seccompProfile", {}).get("type") == "Unconfined":
    assert status["Seccomp"].strip() == "0", f"a seccomp filter applies: Seccomp {status['Seccomp'].strip()}"
limit = c.get("resources", {}).get("limits", {}).get("memory")
if limit:
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}
    want = int(limit[:-2]) * units[limit[-2:]] if limit[-2:] in units else int(limit)
    cg = {l.split(":")[1]: l.strip().split(":", 2)[2] for l in open(proc + "/cgroup")}
    if "memory" in cg:  # cgroup v1
        got = int(open(f"/sys/fs/cgroup/memory{cg['memory']}/memory.limit_in_bytes").read())
    else:
        got = int(open(f"/sys/fs/cgroup{cg['']}/memory.max").read())
    assert got == want, f"memory limit {got}, the manifest asks {limit} ({want})"
PY
pass "read-only root, the hostPath volumes, no seccomp filter and the memory limit, as the manifest asks"

# A connection made on the host after the pod is ready: a loopback server and
# client with names and a port of this test's own.
W=$BIN/workload
sport=$(free_listen_port)
while [[ $sport == "$port" ]]; do sport=$(free_listen_port); done
srv_comm=ntk-srv-$$ cli_comm=ntk-cli-$$
"$W" serve --listen "127.0.0.1:$sport" --comm "$srv_comm" --count 2 -v >"$T/srv" &
srv=$!; NT_BG_PIDS+=("$srv")
wait_ready_line "$T/srv" "$srv"
"$W" connect --to "127.0.0.1:$sport" --comm "$cli_comm" --count 2 -v >"$T/cli" || fail "connect failed"
wait "$srv" || fail "the test's server failed"
srv_pid=$(awk '$1=="pid"{print $2}' "$T/srv")
cli_pid=$(awk '$1=="pid"{print $2}' "$T/cli")
{ workload_tuples "$T/srv" "$srv_pid" "$srv_comm"; workload_tuples "$T/cli" "$cli_pid" "$cli_comm"; } >"$T/want.events"
cat >"$T/want.metrics" <<WANT
nettrace_connections_total{comm="$cli_comm",direction="out",server_addr="127.0.0.1",server_port="$sport"} 2
nettrace_connections_total{comm="$srv_comm",direction="in",server_addr="127.0.0.1",server_port="$sport"} 2
WANT
# The records reach the map within a tick: poll with a deadline.
deadline=$((SECONDS + 20))
while :; do
  curl -fsS "http://127.0.0.1:$port/metrics" >"$T/metrics" || fail "GET /metrics failed"
  grep -E "^nettrace_connections_total\{comm=\"ntk-(srv|cli)-$$\"" "$T/metrics" | sort >"$T/got.metrics" || true
  curl -fsS "http://127.0.0.1:$port/api/events?limit=100000" |
    jq -c "select(.comm == \"$srv_comm\" or .comm == \"$cli_comm\") | select(.type == \"connect\" or .type == \"accept\")" |
    tuples >"$T/got.events" || true
  cmp -s "$T/want.metrics" "$T/got.metrics" && [[ $(wc -l <"$T/got.events") -ge 4 ]] && break
  if [[ $SECONDS -ge $deadline ]]; then
    echo "--- expected  +++ the pod's /metrics" >&2; diff "$T/want.metrics" "$T/got.metrics" >&2 || true
    fail "the pod's /metrics does not hold the test's edge"
  fi
  sleep 0.2
done
pass "the pod's /metrics: the test's edge, 2 connections out of $cli_comm and 2 into $srv_comm on 127.0.0.1:$sport"
same_lines "the pod's /api/events" "$T/want.events" "$T/got.events"
pass "the pod's /api/events: the test's 4 records, 4-tuples, host pids and names as the processes saw them"
