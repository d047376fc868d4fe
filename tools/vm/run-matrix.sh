#!/usr/bin/env bash
# Kernel matrix: boots Debian's own kernels under qemu (TCG: no KVM needed) with
# a busybox initramfs holding nettrace and the workload program, runs every
# backend through the live scenarios in the guest (guest-init.sh), and prints
# the table. Exits non-zero on any FAIL, a boot timeout, or a missing piece.
#
#   tools/vm/run-matrix.sh [--build DIR] [--kernel [SUITE:]PACKAGE]... [--jobs N]
# Default kernels: Debian 11's 5.10 (from the bullseye suite), Debian 12's
# current 6.1 and 6.12 (both sides of the 6.10 change to inet_csk_accept).
# Debian 12's own apt sources do not list bullseye: its kernel comes through
# a private apt configuration (its own sources list naming the bullseye suite
# of the archive the system's apt uses, its own lists and cache directories
# under the cache directory), so the system's apt setup is never changed.
# A PACKAGE without SUITE comes from the system's apt.
# Downloads are cached in $NT_VM_CACHE (default /var/cache/nettrace-vm).
# --jobs N (or NT_VM_JOBS) boots up to N kernels at a time (default 3);
# NT_VM_SMP sets each guest's CPUs (default 1). Not 2 any more: under TCG a
# guest with two vCPUs can run a stale int3 that the kernel's text patching
# (static keys, when a syscall tracepoint is enabled) already removed on the
# other vCPU, and 6.12 oopsed in syscall_exit_to_user_mode_prepare that way
# during the tracepoint backend's start (an emulator race, not seen on real
# CPUs). One vCPU cannot race itself, and boots faster on two host cores
# (104 s against 131-153 s for the three kernels). The threads scenario still
# runs 8 threads, interleaved by preemption.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=$here/build
kernels=()
jobs=${NT_VM_JOBS:-3}
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=${2:?--build needs a directory}; shift 2 ;;
    --kernel) kernels+=("${2:?--kernel needs a package name}"); shift 2 ;;
    --jobs) jobs=${2:?--jobs needs a number}; shift 2 ;;
    *) echo "run-matrix.sh: unknown option '$1'" >&2; exit 64 ;;
  esac
done
die() { echo "run-matrix.sh: $*" >&2; exit 2; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs takes a whole number of kernels to boot at a time (1 or more), not '$jobs'"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing: apt-get install qemu-system-x86 (tools/install-deps.sh does)"
[[ -x /bin/busybox ]] || die "busybox is missing: apt-get install busybox-static"
command -v cpio >/dev/null || die "cpio is missing: apt-get install cpio"
command -v xz >/dev/null || die "xz is missing: apt-get install xz-utils"
# (Seen on a shared machine: a stray redirection had replaced it with a file.)
[[ -c /dev/null ]] || die "/dev/null is not the null device, so apt cannot check signatures (its apt-key writes to it as _apt): restore it with rm /dev/null; mknod -m 666 /dev/null c 1 3"
for b in nettrace workload; do
  [[ -x "$build/bin/$b" ]] || die "$build/bin/$b is missing: build first (cmake --build $build)"
done

cache=${NT_VM_CACHE:-/var/cache/nettrace-vm}
mkdir -p "$cache"

# apt options for a suite: none for the system's own (""), else a private
# configuration under $cache/apt-SUITE naming that suite of the archive the
# system's apt uses. apt.conf.d still applies (proxies, the archive's
# Check-Valid-Until for a pinned snapshot), only the sources and the state
# and cache directories are our own.
apt_opts=()
use_suite() {
  apt_opts=()
  local suite=$1
  [[ -n "$suite" ]] || return 0
  local dir=$cache/apt-$suite site codename keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  site=$(apt-get indextargets --format '$(SITE) $(RELEASE)' 2>/dev/null | awk -v r="$codename" '$2 == r { print $1; exit }')
  [[ -n "$site" ]] || die "cannot tell which Debian archive the system's apt uses (no '$codename' suite in apt-get indextargets: run apt-get update)"
  [[ -f $keyring ]] || die "$keyring is missing: apt-get install debian-archive-keyring"
  mkdir -p "$dir"/lists/partial "$dir"/archives/partial "$dir"/state "$dir"/cache "$dir"/sources.list.d
  echo "deb [signed-by=$keyring] $site $suite main" >"$dir/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=$dir/sources.list.d"
    -o "Dir::State=$dir/state" -o "Dir::State::Lists=$dir/lists"
    -o "Dir::Cache=$dir/cache" -o "Dir::Cache::Archives=$dir/archives")
}

# Newest unsigned image of a series: the unsigned package ships the same vmlinuz.
latest() {
  apt-cache "${apt_opts[@]}" search --names-only "^linux-image-$1[.0-9+a-z-]*-amd64-unsigned\$" 2>/dev/null | awk '{ print $1 }' |
    { grep -v -e '-rt-' -e '-cloud-' || true; } | sort -V | tail -n 1
}
# install-deps.sh skips apt-get update when nothing is missing, so the lists
# may be absent or stale here: refresh them once per suite if a lookup or
# download fails.
refreshed=" "
update_errors=""
refresh_lists() { # suite
  [[ $refreshed != *" $1 "* ]] || return 1
  refreshed="$refreshed$1 "
  # apt's own words, for the message if the lookup still fails.
  update_errors=$(apt-get "${apt_opts[@]}" update -q 2>&1 | grep -E '^(E|W|Err):' | head -n 3 | tr '\n' ' ' || true)
}
if [[ ${#kernels[@]} -eq 0 ]]; then
  for spec in bullseye:5.10.0 :6.1.0 :6.12; do
    suite=${spec%%:*} series=${spec#*:}
    use_suite "$suite"
    k=$(latest "$series")
    if [[ -z "$k" ]] && refresh_lists "$suite"; then k=$(latest "$series"); fi
    [[ -n "$k" ]] || die "no linux-image-$series*-amd64-unsigned in the apt lists of Debian's ${suite:-own} suite${update_errors:+; apt-get update said: $update_errors}"
    kernels+=("${suite:+$suite:}$k")
  done
fi

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
# Downloads and kernel images first, one at a time (the network and the
# disk), then the boots, up to $jobs at a time: TCG is CPU-bound, but every
# guest also waits (for nettrace to attach, for its servers), and a second
# guest fills those gaps.
images=()
for spec in "${kernels[@]}"; do
  suite="" pkg=$spec
  [[ $spec != *:* ]] || { suite=${spec%%:*} pkg=${spec#*:}; }
  use_suite "$suite"
  deb=$(ls "$cache/${pkg}"_*.deb 2>/dev/null | head -n 1 || true)
  if [[ -z "$deb" ]]; then
    if ! (cd "$cache" && apt-get "${apt_opts[@]}" download "$pkg" >/dev/null 2>&1); then
      refresh_lists "$suite" || true
      (cd "$cache" && apt-get "${apt_opts[@]}" download "$pkg" >/dev/null 2>&1) ||
        die "cannot download $pkg with apt-get from the ${suite:-default} suite: is it still in Debian's archive?${update_errors:+ (apt-get update said: $update_errors)}"
    fi
    deb=$(ls "$cache/${pkg}"_*.deb | head -n 1)
  fi
  kdir=$work/$pkg
  mkdir -p "$kdir"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kdir" --wildcards './boot/vmlinuz-*'
  vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -n 1)
  [[ -f "$vmlinuz" ]] || die "$deb holds no /boot/vmlinuz-*"
  images+=("$vmlinuz")
  # The socket-diag modules: on a real host the kernel loads them itself when
  # the snapshot's first sock_diag request comes (modprobe); the busybox guest
  # has no modprobe, so init loads them (guest-init.sh). Uncompressed, for
  # busybox's insmod.
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$kdir" --wildcards './lib/modules/*/kernel/net/ipv4/inet_diag.ko*' './lib/modules/*/kernel/net/ipv4/tcp_diag.ko*'
  for ko in "$kdir"/lib/modules/*/kernel/net/ipv4/*_diag.ko*; do
    ver=${ko#"$kdir"/lib/modules/}; ver=${ver%%/*}
    mkdir -p "$root/lib/modules/$ver"
    case $ko in
      *.xz) xz -dc "$ko" >"$root/lib/modules/$ver/$(basename "${ko%.xz}")" ;;
      *) cp "$ko" "$root/lib/modules/$ver/" ;;
    esac
  done
done
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$work/initrd.gz"

boot() { # package vmlinuz: the console goes to $work/PACKAGE.log
  local start=$SECONDS
  timeout 900 qemu-system-x86_64 -accel tcg -m 1024 -smp "${NT_VM_SMP:-1}" -nographic -no-reboot \
    -kernel "$2" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 panic=-1 quiet loglevel=3" </dev/null >"$work/$1.log" 2>&1 || true
  echo $((SECONDS - start)) >"$work/$1.secs"
}
start=$SECONDS
running=0
for i in "${!kernels[@]}"; do
  pkg=${kernels[i]#*:}
  echo "== booting $(basename "${images[i]}") under qemu (TCG)"
  boot "$pkg" "${images[i]}" &
  running=$((running + 1))
  if [[ $running -ge $jobs ]]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

status=0
results=$work/results
: >"$results"
for spec in "${kernels[@]}"; do
  pkg=${spec#*:}
  log=$work/$pkg.log
  tr -d '\r' <"$log" | grep '^MATRIX' | tee -a "$results" || true
  # Kept until the next run, for whoever looks into a failure.
  mkdir -p "$cache/logs"
  tr -d '\r' <"$log" >"$cache/logs/$pkg.log"
  if ! grep -q 'MATRIX-DONE' "$log"; then
    echo "run-matrix.sh: $pkg did not finish (boot failure, kernel oops or timeout); console in $cache/logs/$pkg.log:" >&2
    tr -d '\r' <"$log" | grep -m 1 -A 40 -E 'BUG:|Oops|general protection|Kernel panic' >&2 || tail -n 20 "$log" >&2
    status=1
  fi
  echo "   ($pkg: $(cat "$work/$pkg.secs" 2>/dev/null || echo '?') s)"
done

pass=$(grep -c ' PASS' "$results" || true)
fail=$(grep -c ' FAIL' "$results" || true)
echo "matrix: $pass passed, $fail failed, ${#kernels[@]} kernels in $((SECONDS - start)) s (up to $jobs at a time)"
[[ $fail -eq 0 && $status -eq 0 && $pass -gt 0 ]]
