// The fentry backend's loader (bpf/fentry.bpf.c): BPF trampolines, the
// cheapest hooks. Some kernels (or their lockdown/LSM policy) refuse tracing
// programs at load with EPERM; auto then moves on to the next backend.
#include "tracer/skeleton_util.h"

// After skeleton_util.h: the skeleton names struct nt_config, defined there.
#include "fentry.skel.h"

namespace nt {

std::unique_ptr<AttachedBackend> attach_fentry(const BpfConfig& c, AttachFailure& why) {
  using Backend =
      SkeletonBackend<fentry, fentry__open, fentry__load, fentry__attach, fentry__destroy>;
  return Backend::create(c, why);
}

} // namespace nt
