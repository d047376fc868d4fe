#!/usr/bin/env bash
# The .deb: built by tools/package.sh, it holds every file it should, depends
# on the system's shared libraries and has no maintainer script; installed
# into a clean tree, its programs run from there with the system's libraries;
# its unit passes systemd-analyze verify; the DaemonSet manifest is well formed.
source "$(dirname "$0")/lib.sh"
build_and_extract

# Every expected file, exactly (directories aside).
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ {print $6}' | sort >"$T/files"
cat >"$T/want" <<'LIST'
./usr/bin/netgraph
./usr/bin/nettrace
./usr/lib/systemd/system/nettrace.service
./usr/share/bash-completion/completions/netgraph
./usr/share/bash-completion/completions/nettrace
./usr/share/doc/nettrace/LICENSE
./usr/share/doc/nettrace/README.md
./usr/share/doc/nettrace/examples/kubernetes/Containerfile
./usr/share/doc/nettrace/examples/kubernetes/nettrace-daemonset.yaml
./usr/share/doc/nettrace/examples/library/count_peers.cpp
./usr/share/doc/nettrace/examples/systemd/nettrace.service
./usr/share/man/man1/netgraph.1
./usr/share/man/man1/nettrace.1
LIST
missing=$(comm -23 "$T/want" "$T/files")
[[ -z $missing ]] || fail "the package lacks: $missing"
# The examples directory is copied whole (traces and graphs included), without
# the build's CMakeLists.txt.
for d in traces graphs; do
  want=$(cd "$SRC/examples/$d" && find . -type f | sed "s|^\.|./usr/share/doc/nettrace/examples/$d|" | sort)
  got=$(grep "^./usr/share/doc/nettrace/examples/$d/" "$T/files" || true)
  [[ "$want" == "$got" ]] || fail "examples/$d differs in the package: $(diff <(echo "$want") <(echo "$got"))"
done
! grep -q CMakeLists.txt "$T/files" || fail "a CMakeLists.txt went into the package"
pass "dpkg-deb -c lists every file ($(wc -l <"$T/files") files)"

# Depends from dpkg-shlibdeps: the libraries the binaries really link; and
# libcurl4, which netgraph loads for --prometheus (dlopen).
deps=$(dpkg-deb -f "$DEB" Depends)
for lib in libbpf1 libgvc6 libcgraph6 libcap2 libc6 libcurl4; do
  grep -Eq "(^|, )$lib( |,|$)" <<<"$deps" || fail "Depends lacks $lib: $deps"
done
pass "Depends: $deps"
# No maintainer scripts: installing runs nothing.
dpkg-deb -e "$DEB" "$T/control"
extra=$(cd "$T/control" && ls | grep -vxE 'control|md5sums' || true)
[[ -z $extra ]] || fail "maintainer scripts in the package: $extra"
pass "no maintainer scripts"
# `apt install ./nettrace_*.deb` (the README's step) resolves every Depends
# from this system's archive: simulated, as installing would change the host.
if command -v apt-get >/dev/null; then
  sim=$(apt-get install -s "$DEB" 2>&1) || fail "apt-get install -s: $sim"
  grep -q '^Inst nettrace ' <<<"$sim" || fail "apt would not install nettrace: $sim"
  pass "apt-get install -s ./$(basename "$DEB") resolves"
fi

# The installed programs run from the tree with the system's libraries only.
for prog in nettrace netgraph; do
  v=$(env -u LD_LIBRARY_PATH "$ROOT/usr/bin/$prog" --version)
  [[ $v == "$prog 0."* || $v == "$prog "[0-9]* ]] || fail "$prog --version printed '$v'"
  want=$("$BUILD/bin/$prog" --version)
  [[ $v == "$want" ]] || fail "installed $prog says '$v', the build says '$want'"
  pass "installed $prog --version: $v"
done
man -l "$ROOT/usr/share/man/man1/nettrace.1" 2>/dev/null | grep -q -- '--serve' ||
  fail "the installed man page does not document --serve"

# The unit: the installed copy is the example's, and systemd-analyze verify
# accepts it without a single warning (verify exits 0 on unknown keys and bad
# values, printing them, so any output fails). verify checks that ExecStart's
# program exists, so the copy verified points at the tree's nettrace, and runs
# against the host's own units (sysinit.target ...): the extracted tree has none.
cmp -s "$UNIT" "$SRC/examples/systemd/nettrace.service" || fail "the installed unit is not examples/systemd/nettrace.service"
command -v systemd-analyze >/dev/null || skip "systemd-analyze missing: run tools/install-deps.sh (systemd)"
mkdir -p "$T/unit"
sed "s|/usr/bin/nettrace|$ROOT/usr/bin/nettrace|" "$UNIT" >"$T/unit/nettrace.service"
out=$(systemd-analyze verify --man=no "$T/unit/nettrace.service" 2>&1) || fail "systemd-analyze verify: $out"
[[ -z $out ]] || fail "systemd-analyze verify warns: $out"
for key in 'CapabilityBoundingSet=' 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' \
  'PrivateTmp=yes' 'ExecStart=/usr/bin/nettrace --serve '; do
  grep -q "^$key" "$UNIT" || fail "the unit lacks $key"
done
grep -q -- '--user ' <(grep '^ExecStart=' "$UNIT") || fail "the unit does not drop privileges (--user)"
pass "systemd-analyze verify: the unit is clean"

# The DaemonSet manifest: no cluster here, so its structure, with PyYAML.
python3 - "$ROOT/usr/share/doc/nettrace/examples/kubernetes/nettrace-daemonset.yaml" <<'PY' || fail "the Kubernetes manifest"
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = {d["kind"]: d for d in docs}
for k in ("Namespace", "DaemonSet", "Service", "ServiceMonitor"):
    assert k in kinds, f"no {k}"
for d in docs:
    assert d.get("apiVersion") and d["metadata"].get("name"), f"{d['kind']}: apiVersion/name"
ds = kinds["DaemonSet"]
assert ds["apiVersion"] == "apps/v1"
tpl = ds["spec"]["template"]
assert ds["spec"]["selector"]["matchLabels"].items() <= tpl["metadata"]["labels"].items(), "selector does not match the pods"
spec = tpl["spec"]
assert spec["hostPID"] is True and spec["hostNetwork"] is True, "hostPID/hostNetwork"
ann = tpl["metadata"]["annotations"]
assert ann["prometheus.io/scrape"] == "true" and ann["prometheus.io/port"] == "9477"
(c,) = spec["containers"]
assert c["args"][:2] == ["--serve", "0.0.0.0:9477"] and "--user" in c["args"], c["args"]
sc = c["securityContext"]
assert sc["privileged"] is False and sc["capabilities"]["drop"] == ["ALL"]
assert set(sc["capabilities"]["add"]) == {"BPF", "PERFMON", "SETUID", "SETGID"}, sc["capabilities"]
vols = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"]}
mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
assert vols == mounts, (vols, mounts)
assert {"/sys/kernel/btf", "/sys/fs/cgroup"} <= set(vols.values())
assert c["ports"][0]["containerPort"] == 9477
svc, sm = kinds["Service"], kinds["ServiceMonitor"]
assert svc["spec"]["selector"].items() <= tpl["metadata"]["labels"].items()
assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"] == c["ports"][0]["name"]
# The unit and the manifest grant the same capabilities.
unit = open(sys.argv[1].replace("kubernetes/nettrace-daemonset.yaml", "systemd/nettrace.service")).read()
line = [l for l in unit.splitlines() if l.startswith("CapabilityBoundingSet=")][0]
assert {w.removeprefix("CAP_") for w in line.split("=", 1)[1].split()} == set(sc["capabilities"]["add"]), line
PY
pass "the DaemonSet manifest is well formed and grants the unit's capabilities"
