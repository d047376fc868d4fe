// The kprobe backend's loader (bpf/kprobe.bpf.c): for kernels with kprobes
// but without BPF trampolines. Attach fails cleanly where CONFIG_KPROBES is off.
// Its accepts come from syscall tracepoints, found through tracefs.
#include "tracer/skeleton_util.h"

// After skeleton_util.h: the skeleton names struct nt_config, defined there.
#include "kprobe.skel.h"

namespace nt {

std::unique_ptr<AttachedBackend> attach_kprobe(const BpfConfig& c, AttachFailure& why) {
  ensure_tracefs(); // the accept system calls' tracepoints (bpf/accept_syscalls.bpf.h)
  using Backend =
      SkeletonBackend<kprobe, kprobe__open, kprobe__load, kprobe__attach, kprobe__destroy>;
  return Backend::create(c, why);
}

} // namespace nt
