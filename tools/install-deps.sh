#!/usr/bin/env bash
# Installs, from Debian's archive only, whatever nettrace/netgraph need to build,
# test and benchmark that is not installed yet. Idempotent: when everything is
# there it installs nothing, runs no apt-get at all, and says so.
#
#   tools/install-deps.sh            build + test dependencies
#   tools/install-deps.sh --bench    also the peers the benchmarks compare against
set -euo pipefail

# Build: compilers, BPF toolchain, libraries. Test: iproute2 for network
# namespaces, qemu + busybox + cpio for the kernel matrix, clang's runtime for
# libFuzzer and the sanitizers; help2man writes the man pages at build time,
# man-db and groff-base render them in the tests; prometheus (the server and
# promtool) scrapes nettrace --serve in the tests and checks its exposition
# text; curl and jq ask it and nettrace's API there. dpkg-dev (dpkg-shlibdeps, for the
# .deb's Depends), systemd (systemd-analyze verify), systemd-container (nspawn
# boots a systemd that starts the installed unit) and python3-yaml (the DaemonSet
# manifest's check) serve tests/packaging. libnetfilter-conntrack-dev and libmnl-dev:
# nettrace --nat asks conntrack over ctnetlink; nftables sets up the NAT its tests
# trace. podman, runc, catatonit and mmdebstrap run the Kubernetes DaemonSet's pod
# (tests/packaging/kube_pod_test.sh): podman kube play with runc (crun refuses
# hybrid cgroup trees), catatonit for the pod's pause image, mmdebstrap for the
# Debian base image made from the archive offline. Each name is a Debian 12 package.
packages=(
  build-essential cmake pkg-config clang llvm libclang-rt-14-dev
  libbpf-dev bpftool libelf-dev zlib1g-dev
  libcli11-dev libfmt-dev libgraphviz-dev graphviz
  libgtest-dev libgmock-dev libre2-dev libcap-dev libsimdjson-dev nlohmann-json3-dev libabsl-dev
  libcurl4-openssl-dev
  iproute2 procps util-linux kmod strace
  help2man man-db groff-base
  prometheus curl jq
  dpkg-dev systemd systemd-container python3-yaml
  libnetfilter-conntrack-dev libmnl-dev nftables
  podman runc catatonit mmdebstrap
  qemu-system-x86 busybox-static cpio xz-utils
  chromium nodejs
)
# The live page's browser tests (tests/web): Debian's chromium, driven by
# puppeteer-core from npm. npm is its own Debian package, unless nodejs came
# with it (NodeSource's does): then it is not asked for.
command -v npm >/dev/null || packages+=(npm)
if [[ "${1:-}" == "--bench" ]]; then
  # Peers measured side by side with nettrace, and Google Benchmark.
  packages+=(libbpf-tools bpftrace libbenchmark-dev time)
elif [[ -n "${1:-}" ]]; then
  echo "install-deps.sh: unknown option '$1' (use --bench or nothing)" >&2
  exit 64
fi

if [[ $(id -u) -ne 0 ]]; then
  missing_root=1
else
  missing_root=0
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$p")
  fi
done

# tests/web's npm packages (puppeteer-core), exactly as its lockfile pins
# them, when they are not there yet. Only with the Debian packages in place.
web_test_deps() {
  local web
  web="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/web"
  if [[ ! -d "$web/node_modules/puppeteer-core" ]]; then
    echo "install-deps: npm ci in tests/web (puppeteer-core, pinned by package-lock.json)"
    # PUPPETEER_SKIP_DOWNLOAD: the tests use Debian's chromium, no other browser.
    (cd "$web" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --ignore-scripts)
  fi
}

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages already installed; nothing to do"
  web_test_deps
  exit 0
fi

if [[ $missing_root -eq 1 ]]; then
  echo "install-deps: missing packages (${missing[*]}) and not root: run as root (sudo $0)" >&2
  exit 77
fi

echo "install-deps: installing ${#missing[@]} missing package(s): ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
web_test_deps
echo "install-deps: done"
