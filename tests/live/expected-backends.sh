#!/bin/sh
# Which nettrace backends must load and attach on the running kernel, one name
# a line. The live tests (scenarios_test.sh) and the kernel matrix's guest
# (tools/vm/guest-init.sh) fail when one of these does not load: a backend
# that stops loading is a regression, never a quietly shorter suite.
#   expected-backends.sh         the names
#   expected-backends.sh --why   the names, each with the reason
# POSIX sh: it also runs in the matrix's busybox guest.
#
# The rule, from features of the running kernel. /proc/kallsyms names every
# kernel function (kptr_restrict hides only addresses), so it tells what was
# compiled in without the kernel's config file, which a guest may not have:
#   tracepoint  always: every kernel nettrace runs on has it (BTF, tp_btf and
#               the BPF ring buffer, 5.8+)
#   kprobe      when the kernel has kprobes (CONFIG_KPROBES: register_kprobe)
#   fentry      when the kernel has BPF trampolines (arch_prepare_bpf_trampoline)
#               and ftrace direct calls to attach them (register_ftrace_direct,
#               or register_ftrace_direct_multi in 5.16-6.5)
# Exceptions: kernels that have the feature but refuse it by policy, by
# release (a shell glob), with what is known of the cause:
#   *-fc-*      no fentry. The development host's Firecracker guest kernel
#               (6.18.*-fc-*, lockdown=integrity, CONFIG_KPROBES off) refuses
#               every tracing program at load with EPERM, before the verifier
#               runs, though it has trampolines. There only tracepoint runs.
# NT_EXPECT_BACKENDS="tracepoint ..." replaces the rule on a machine it does
# not describe; say why where you set it.
set -eu

why=0
[ "${1:-}" = "--why" ] && why=1

say() { # name reason
  if [ $why -eq 1 ]; then echo "$1: $2"; else echo "$1"; fi
}

if [ -n "${NT_EXPECT_BACKENDS:-}" ]; then
  for b in $NT_EXPECT_BACKENDS; do say "$b" "NT_EXPECT_BACKENDS"; done
  exit 0
fi

has_symbol() {
  for s in "$@"; do
    awk -v s="$s" '$3 == s { found = 1; exit } END { exit !found }' /proc/kallsyms && return 0
  done
  return 1
}

release=$(uname -r)
fentry_refused=""
case "$release" in
  *-fc-*) fentry_refused="this Firecracker kernel refuses tracing programs (EPERM at load)" ;;
esac

if has_symbol arch_prepare_bpf_trampoline && has_symbol register_ftrace_direct register_ftrace_direct_multi; then
  if [ -z "$fentry_refused" ]; then
    say fentry "BPF trampolines and ftrace direct calls"
  elif [ $why -eq 1 ]; then
    echo "(not fentry: $fentry_refused)"
  fi
elif [ $why -eq 1 ]; then
  echo "(not fentry: no BPF trampolines or ftrace direct calls)"
fi
say tracepoint "every supported kernel"
if has_symbol register_kprobe; then
  say kprobe "CONFIG_KPROBES (register_kprobe)"
elif [ $why -eq 1 ]; then
  echo "(not kprobe: no kprobes in this kernel)"
fi
