#include "tracer/backend.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <string>

#include "tracer/tracer.h"

namespace nt {
namespace {

// Cheapest first: fentry/fexit run through BPF trampolines (a direct call);
// tp_btf is nearly as cheap but the syscall exit tracepoints add a little;
// kprobes trap (int3) on every hit.
constexpr std::array kBackends = {
    BackendInfo{"fentry", 1,
                "fexit tcp_v4_connect, tcp_v6_connect, inet_csk_accept; fentry tcp_set_state",
                attach_fentry},
    BackendInfo{"tracepoint", 2,
                "tp_btf/inet_sock_set_state, tracepoint/syscalls/sys_exit_accept{,4}",
                attach_tracepoint},
    BackendInfo{"kprobe", 3,
                "kprobe+kretprobe tcp_v4_connect, tcp_v6_connect; kprobe tcp_set_state; kretprobe "
                "inet_csk_accept",
                attach_kprobe},
};

} // namespace

std::span<const BackendInfo> backends() {
  return kBackends;
}

const BackendInfo* find_backend(const std::string& name) {
  for (const auto& b : kBackends)
    if (name == b.name)
      return &b;
  return nullptr;
}

std::vector<std::string> backend_choices() {
  std::vector<std::string> names;
  for (const auto& b : kBackends)
    names.emplace_back(b.name);
  std::sort(names.begin(), names.end());
  names.insert(names.begin(), "auto");
  return names;
}

std::string backend_choices_in_words() {
  const std::vector<std::string> words = backend_choices();
  std::string text;
  for (size_t i = 0; i < words.size(); ++i)
    text += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
  return text;
}

std::string AttachFailure::detail() const {
  return stage + ": " + std::strerror(err) + " (errno " + std::to_string(err) + ")";
}

KernelFacts kernel_facts() {
  KernelFacts f;
  f.privileged = has_bpf_privileges();
  f.btf = has_btf();
  // The kprobe PMU (4.17+) and the older kprobe_events file both exist only
  // with CONFIG_KPROBES=y.
  f.kprobes = access("/sys/bus/event_source/devices/kprobe", F_OK) == 0 ||
              access("/sys/kernel/tracing/kprobe_events", F_OK) == 0 ||
              access("/sys/kernel/debug/tracing/kprobe_events", F_OK) == 0;
  f.tracefs = access("/sys/kernel/tracing/events", F_OK) == 0 ||
              access("/sys/kernel/debug/tracing/events", F_OK) == 0;
  // "none [integrity] confidentiality": the bracketed word is the mode.
  std::ifstream in("/sys/kernel/security/lockdown");
  std::string line;
  if (std::getline(in, line)) {
    const size_t open = line.find('['), close = line.find(']');
    if (open != std::string::npos && close > open)
      f.lockdown = line.substr(open + 1, close - open - 1);
  }
  return f;
}

std::string explain_failure(std::string_view backend, const AttachFailure& failure,
                            const KernelFacts& facts, std::string_view libbpf_log) {
  const std::string name(backend);
  if (!facts.privileged)
    return "not tried: loading BPF programs needs root or CAP_BPF and CAP_PERFMON";
  if (!facts.btf)
    return "not tried: the kernel has no BTF (/sys/kernel/btf/vmlinux), which CO-RE needs";
  // libbpf's log names what the verifier or the loader could not find.
  if (size_t at = libbpf_log.find("unknown func "); at != std::string_view::npos) {
    std::string_view helper = libbpf_log.substr(at + 13);
    helper = helper.substr(0, helper.find_first_of("#\n "));
    return "this kernel lacks the BPF helper " + std::string(helper) + " that the " + name +
           " backend calls (the kernel is too old)";
  }
  if (libbpf_log.find("failed to resolve CO-RE relocation") != std::string_view::npos)
    return "a kernel type or field the " + name +
           " backend reads is missing from this kernel's BTF (CO-RE relocation failed)";
  const int e = failure.err;
  if (name == "kprobe" && !facts.kprobes)
    return "this kernel has no kprobes (CONFIG_KPROBES is off)";
  if (name == "tracepoint" && !facts.tracefs)
    return "tracefs is not mounted, so the syscall tracepoints cannot be found (mount -t "
           "tracefs none /sys/kernel/tracing)";
  if (name == "fentry" && (e == EPERM || e == EACCES) && failure.stage == "load") {
    std::string why = "fentry refused by the kernel (" +
                      std::string(e == EPERM ? "EPERM" : "EACCES") +
                      "): lockdown or BPF trampolines unavailable";
    if (!facts.lockdown.empty() && facts.lockdown != "none")
      why += " (this kernel is locked down: " + facts.lockdown + ")";
    return why;
  }
  if (name == "fentry" && (e == ENOTSUP || e == 524 /* ENOTSUPP */))
    return "this kernel or architecture has no BPF trampolines, which fentry needs";
  if (failure.stage == "attach" && e == ENOENT)
    return "a kernel function or tracepoint the " + name +
           " backend hooks does not exist in this kernel (renamed or inlined)";
  if (failure.stage == "load" && (e == EINVAL || e == EACCES))
    return "the kernel's verifier rejected the " + name +
           " programs (nettrace -v --info shows its log)";
  if (e == EPERM || e == EACCES)
    return "the kernel refused the " + name + " programs (" + std::string(std::strerror(e)) +
           "): a security policy (lockdown, an LSM, or a seccomp filter) forbids them";
  if (e == ENOMEM || e == E2BIG)
    return "the kernel could not allocate what the " + name +
           " backend needs (memory limit; try a smaller --ringbuf-size)";
  return "the " + name + " backend failed at " + failure.stage + ": " + std::strerror(e);
}

} // namespace nt
