#!/usr/bin/env bash
# Kernel matrix: boots Debian's own kernels under qemu (TCG: no KVM needed) with
# a busybox initramfs holding nettrace and the workload program, runs every
# backend through the live scenarios in the guest (guest-init.sh), and prints
# the table. Exits non-zero on any FAIL, a boot timeout, or a missing piece.
#
#   tools/vm/run-matrix.sh [--build DIR] [--kernel PACKAGE]...
# Default kernels: Debian 12's current 6.1 and 6.12 (both sides of the 6.10
# change to inet_csk_accept). Downloads are cached in $NT_VM_CACHE
# (default /var/cache/nettrace-vm).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=$here/build
kernels=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=${2:?--build needs a directory}; shift 2 ;;
    --kernel) kernels+=("${2:?--kernel needs a package name}"); shift 2 ;;
    *) echo "run-matrix.sh: unknown option '$1'" >&2; exit 64 ;;
  esac
done
die() { echo "run-matrix.sh: $*" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing: apt-get install qemu-system-x86 (tools/install-deps.sh does)"
[[ -x /bin/busybox ]] || die "busybox is missing: apt-get install busybox-static"
command -v cpio >/dev/null || die "cpio is missing: apt-get install cpio"
for b in nettrace workload; do
  [[ -x "$build/bin/$b" ]] || die "$build/bin/$b is missing: build first (cmake --build $build)"
done

# Newest unsigned image of a series: the unsigned package ships the same vmlinuz.
latest() {
  apt-cache search --names-only "^linux-image-$1[.0-9+a-z-]*-amd64-unsigned\$" 2>/dev/null | awk '{ print $1 }' |
    grep -v -e '-rt-' -e '-cloud-' | sort -V | tail -n 1
}
# install-deps.sh skips apt-get update when nothing is missing, so the lists
# may be absent or stale here: refresh them once if a lookup or download fails.
refreshed=0
refresh_lists() {
  [[ $refreshed -eq 0 ]] || return 1
  refreshed=1
  apt-get update -q >/dev/null 2>&1
}
if [[ ${#kernels[@]} -eq 0 ]]; then
  for series in 6.1.0 6.12; do
    k=$(latest "$series")
    if [[ -z "$k" ]] && refresh_lists; then k=$(latest "$series"); fi
    [[ -n "$k" ]] || die "no linux-image-$series*-amd64-unsigned in Debian's archive lists (apt-get update failed?)"
    kernels+=("$k")
  done
fi

cache=${NT_VM_CACHE:-/var/cache/nettrace-vm}
mkdir -p "$cache"
work=$(mktemp -d /tmp/nettrace-vm.XXXXXX)
trap 'rm -rf "$work"' EXIT

# initramfs: busybox, nettrace with the shared libraries it needs, the static
# workload and our init. The kernel-independent part is built once.
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,proc,sys,dev,tmp,lib64,etc}
cp /bin/busybox "$root/bin/busybox"
# (the applet list names busybox itself: linking that would replace the binary)
for app in $(/bin/busybox --list); do [[ $app == busybox ]] || ln -sf busybox "$root/bin/$app"; done
cp "$build/bin/nettrace" "$build/bin/workload" "$root/bin/"
ldd "$build/bin/nettrace" | awk '/=>/ { print $3 } /ld-linux/ { print $1 }' | while read -r lib; do
  [[ -f "$lib" ]] || continue
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
cp "$here/tools/vm/guest-init.sh" "$root/init"
cp "$here/tests/live/expected-backends.sh" "$root/bin/expected-backends"
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

status=0
results=$work/results
: >"$results"
for pkg in "${kernels[@]}"; do
  deb=$(ls "$cache/${pkg}"_*.deb 2>/dev/null | head -n 1 || true)
  if [[ -z "$deb" ]]; then
    if ! (cd "$cache" && apt-get download "$pkg" >/dev/null 2>&1); then
      refresh_lists || true
      (cd "$cache" && apt-get download "$pkg" >/dev/null 2>&1) || die "cannot download $pkg with apt-get: is it still in Debian's archive?"
    fi
    deb=$(ls "$cache/${pkg}"_*.deb | head -n 1)
  fi
  kdir=$work/$pkg
  mkdir -p "$kdir"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kdir" --wildcards './boot/vmlinuz-*'
  vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -n 1)
  [[ -f "$vmlinuz" ]] || die "$deb holds no /boot/vmlinuz-*"
  echo "== booting $(basename "$vmlinuz") under qemu (TCG)"
  log=$work/$pkg.log
  start=$SECONDS
  timeout 900 qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -nographic -no-reboot \
    -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 panic=-1 quiet loglevel=3" </dev/null >"$log" 2>&1 || true
  tr -d '\r' <"$log" | grep '^MATRIX' | tee -a "$results" || true
  if ! grep -q 'MATRIX-DONE' "$log"; then
    echo "run-matrix.sh: $pkg did not finish (boot failure or timeout); last console lines:" >&2
    tail -n 20 "$log" >&2
    status=1
  fi
  echo "   ($pkg: $((SECONDS - start)) s)"
done

pass=$(grep -c ' PASS' "$results" || true)
fail=$(grep -c ' FAIL' "$results" || true)
echo "matrix: $pass passed, $fail failed"
[[ $fail -eq 0 && $status -eq 0 && $pass -gt 0 ]]
