#!/usr/bin/env bash
# Builds the container image examples/kubernetes/nettrace-daemonset.yaml runs:
#   tools/build-image.sh [BUILD_DIR]      (default build/)
# The .deb comes from tools/package.sh, the image from
# examples/kubernetes/Containerfile with podman, tagged nettrace:VERSION (the
# .deb's version: the manifest's `image:`). Prints the tag on its last line.
#
# The base, debian:12-slim, is used as it is when podman already has it
# locally. Otherwise it is made from Debian's archive with mmdebstrap
# (minbase, the host's apt sources: offline machines with a local mirror build
# too) and imported as localhost/debian:12-slim, which later runs reuse. With
# neither, podman build pulls debian:12-slim itself.
#
# Exit codes: 0 built; 64 bad usage; 69 podman missing; 1 a step failed.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
[[ ${1:-} != -* ]] || {
  echo "build-image.sh: unknown option '$1' (usage: tools/build-image.sh [BUILD_DIR])" >&2
  exit 64
}
build=$(realpath -m "${1:-$src/build}")
command -v podman >/dev/null || {
  echo "build-image.sh: podman missing: run tools/install-deps.sh (or build with docker from examples/kubernetes/Containerfile)" >&2
  exit 69
}

deb=$("$src/tools/package.sh" "$build" | tail -1)
version=$(dpkg-deb -f "$deb" Version)
tag=nettrace:$version

base=
for b in debian:12-slim localhost/debian:12-slim; do
  if podman image exists "$b"; then base=$b && break; fi
done
if [[ -z $base ]] && command -v mmdebstrap >/dev/null; then
  # The host's Debian sources (the files naming Debian's own archive, not
  # third-party repositories whose keys the base lacks): the image's apt then
  # fetches the .deb's Depends from the same archive as the host.
  sources=()
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && grep -qE '^[^#]*(URIs:|deb) .*/debian(-security)?/?( |$)' "$f" && sources+=("$f")
  done
  echo "build-image.sh: making localhost/debian:12-slim from Debian's archive (mmdebstrap, ${sources[*]:-deb.debian.org})" >&2
  tar=$(mktemp /tmp/nt-base.XXXXXX.tar)
  trap 'rm -f "$tar"' EXIT
  mmdebstrap --quiet --variant=minbase bookworm "$tar" "${sources[@]}" >&2
  podman import --quiet "$tar" localhost/debian:12-slim >/dev/null
  rm -f "$tar"
  base=localhost/debian:12-slim
fi

# A scratch context holds only the Containerfile and the .deb.
ctx=$(mktemp -d /tmp/nt-image.XXXXXX)
trap 'rm -rf "$ctx" ${tar:+"$tar"}' EXIT
cp "$src/examples/kubernetes/Containerfile" "$deb" "$ctx/"
# crun (Debian's default runtime) refuses a hybrid cgroup tree whose v2 half
# has a controller ("cgroups in hybrid mode not supported"); runc runs there.
runtime=()
if [[ $(stat -fc %T /sys/fs/cgroup) != cgroup2fs && -n $(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null) ]] &&
  command -v runc >/dev/null; then
  runtime=(--runtime runc)
fi
# --network=host: RUN apt-get reaches the archive the way the host does (a
# mirror or proxy on the host's loopback included) without a bridge network.
# --layers=false: no intermediate images left behind as a cache (every build
# of a new .deb would add one), and the tag's previous image, nameless now,
# goes too unless something still uses it: rebuilding leaves nothing behind.
old=$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)
podman build "${runtime[@]}" --quiet --layers=false --network=host ${base:+--build-arg "BASE=$base"} -t "$tag" \
  -f "$ctx/Containerfile" "$ctx" >&2
new=$(podman image inspect --format '{{.Id}}' "$tag")
if [[ -n $old && $old != "$new" ]]; then
  podman rmi "$old" >/dev/null 2>&1 || true
fi
echo "$tag"
