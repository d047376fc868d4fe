// The tracepoint backend's loader (bpf/tracepoint.bpf.c): works where kprobes
// are compiled out and fentry is refused. Its classic syscall tracepoints need
// tracefs, which a fresh machine may not have mounted.
#include "tracer/skeleton_util.h"

// After skeleton_util.h: the skeleton names struct nt_config, defined there.
#include "tracepoint.skel.h"

namespace nt {
namespace {

using Backend = SkeletonBackend<tracepoint, tracepoint__open, tracepoint__load, tracepoint__attach,
                                tracepoint__destroy>;

} // namespace

std::unique_ptr<AttachedBackend> attach_tracepoint(const BpfConfig& c, AttachFailure& why) {
  ensure_tracefs();
  return Backend::create(c, why);
}

} // namespace nt
