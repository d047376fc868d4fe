// Attach backends are data: each one is a row of kBackends (backend.cpp) with a
// name, a cost rank and a factory that opens, loads and attaches its BPF
// skeleton. The loader tries them cheapest first; a user can force one.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tracer/options.h"

extern "C" {
#include <linux/types.h>

#include "nettrace_event.h"
}

namespace nt {

// What a backend is loaded with: the kernel's config (filters resolved by the
// filter table, the wakeup threshold), copied whole into the programs'
// .rodata, and the ring buffer's size.
struct BpfConfig {
  nt_config kernel{};
  uint32_t ringbuf_size = 1u << 22;
};

// A loaded and attached backend. Owns its skeleton (and so its programs, maps
// and links): destroying it detaches everything.
class AttachedBackend {
public:
  virtual ~AttachedBackend() = default;
  virtual int ringbuf_fd() const = 0;
  // Total of the in-kernel drop counters, summed over CPUs (read from the
  // mmapped .bss: no bpf() syscall, so it works after privileges are dropped).
  virtual uint64_t dropped() const = 0;
  // Owners pushed out of the full owner map (their closes report pid 0).
  virtual uint64_t evicted() const = 0;
  // The owner map (bpf/common.bpf.h `owners`), for the open-connections dump.
  virtual int owners_fd() const = 0;
  // Runs of our programs the kernel skipped (BPF recursion protection: a hook
  // that fired while the same program was running on that CPU), summed from
  // bpf_prog_info.recursion_misses. Each may have been an event. Returns
  // false when the kernel does not tell (no privilege any more, old kernel).
  virtual bool missed(uint64_t& total) const = 0;
};

// Why a backend did not attach: the step that failed and its errno, so that
// --info can explain it in words (explain_failure) and -v can show the detail.
struct AttachFailure {
  std::string stage;          // "open", "ring buffer size", "load" or "attach"
  int err = 0;                // positive errno
  std::string detail() const; // "load: Operation not permitted (errno 1)"
};

struct BackendInfo {
  const char* name;
  int cost; // lower is cheaper per event
  const char* hooks;
  // Opens, loads and attaches. On failure returns null and says why in `why`.
  std::unique_ptr<AttachedBackend> (*attach)(const BpfConfig&, AttachFailure& why);
};

// What the explanations draw on, gathered once from the running system
// (kernel_facts()); a plain struct so the wording is unit-tested anywhere.
struct KernelFacts {
  bool privileged = true; // CAP_BPF+CAP_PERFMON or CAP_SYS_ADMIN
  bool btf = true;        // /sys/kernel/btf/vmlinux
  bool kprobes = true;    // the kprobe PMU or kprobe_events exists (CONFIG_KPROBES)
  bool tracefs = true;    // tracefs events are reachable (syscall tracepoints)
  std::string lockdown;   // "none", "integrity", "confidentiality" or "" (unknown)
};
KernelFacts kernel_facts();

// One sentence, in words, on why `backend` failed as `failure` says, given the
// facts; `libbpf_log` is libbpf's log of the attempt (may be empty), which
// names a missing helper (with the Linux release that added it) or a failed
// CO-RE relocation. Two answers name no cause: "the kernel's verifier
// rejected ..." and "the ... backend failed at ..."; the kernel matrix
// (tools/vm/guest-init.sh) fails on either, so every failure on a kernel of
// the matrix is explained.
std::string explain_failure(std::string_view backend, const AttachFailure& failure,
                            const KernelFacts& facts, std::string_view libbpf_log = {});

// The name of BPF helper `id` (enum bpf_func_id) if explain_failure knows the
// release that added it, else null.
const char* bpf_helper_name(int id);

std::span<const BackendInfo> backends();
const BackendInfo* find_backend(const std::string& name);

// What --backend takes: "auto", then the table's names in alphabetical order
// (a stable spelling for help, messages and completion, whatever the cost
// order). Everything that lists backends derives from this, never by hand.
std::vector<std::string> backend_choices();
// The same in words: "auto, fentry, kprobe or tracepoint".
std::string backend_choices_in_words();

// Backend factories, one per file (backend_<name>.cpp).
std::unique_ptr<AttachedBackend> attach_tracepoint(const BpfConfig&, AttachFailure& why);
std::unique_ptr<AttachedBackend> attach_kprobe(const BpfConfig&, AttachFailure& why);
// Mounts tracefs at /sys/kernel/tracing if neither it nor debugfs's copy is
// there (best effort): libbpf finds "tracepoint/syscalls/..." through it. For
// the backends with syscall tracepoints (tracepoint, kprobe).
void ensure_tracefs();
std::unique_ptr<AttachedBackend> attach_fentry(const BpfConfig&, AttachFailure& why);

} // namespace nt
