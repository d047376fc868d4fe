#include "tracer/backend.h"

#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <fstream>
#include <optional>
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
                "kprobe tcp_set_state; kprobe+kretprobe tcp_v4_connect, tcp_v6_connect (failures); "
                "tracepoint/syscalls/sys_exit_accept{,4}",
                attach_kprobe},
};

// The BPF helpers the backends call (and their near relatives), with the Linux
// release that added each, so that a kernel without one is named in words.
// tracer_test checks that every helper the built BPF objects call is here.
struct HelperSince {
  int id; // enum bpf_func_id (include/uapi/linux/bpf.h)
  const char* name;
  const char* since;
};
constexpr std::array kHelpers = {
    HelperSince{1, "bpf_map_lookup_elem", "3.19"},
    HelperSince{2, "bpf_map_update_elem", "3.19"},
    HelperSince{3, "bpf_map_delete_elem", "3.19"},
    HelperSince{4, "bpf_probe_read", "4.1"},
    HelperSince{45, "bpf_probe_read_str", "4.11"},
    HelperSince{5, "bpf_ktime_get_ns", "4.1"},
    HelperSince{8, "bpf_get_smp_processor_id", "4.1"},
    HelperSince{14, "bpf_get_current_pid_tgid", "4.2"},
    HelperSince{15, "bpf_get_current_uid_gid", "4.2"},
    HelperSince{16, "bpf_get_current_comm", "4.2"},
    HelperSince{35, "bpf_get_current_task", "4.8"},
    HelperSince{80, "bpf_get_current_cgroup_id", "4.18"},
    HelperSince{113, "bpf_probe_read_kernel", "5.5"},
    HelperSince{115, "bpf_probe_read_kernel_str", "5.5"},
    HelperSince{130, "bpf_ringbuf_output", "5.8"},
    HelperSince{131, "bpf_ringbuf_reserve", "5.8"},
    HelperSince{132, "bpf_ringbuf_submit", "5.8"},
    HelperSince{133, "bpf_ringbuf_discard", "5.8"},
    HelperSince{134, "bpf_ringbuf_query", "5.8"},
    HelperSince{137, "bpf_skc_to_tcp_sock", "5.9"},
    HelperSince{158, "bpf_get_current_task_btf", "5.11"},
    HelperSince{183, "bpf_get_func_arg", "5.17"},
    HelperSince{184, "bpf_get_func_ret", "5.17"},
    HelperSince{185, "bpf_get_func_arg_cnt", "5.17"},
};

const HelperSince* helper_by_id(int id) {
  for (const auto& h : kHelpers)
    if (h.id == id)
      return &h;
  return nullptr;
}

// A helper call the verifier refused, as its log says. A kernel older than
// the helper does not know its name: "invalid func unknown#158". A kernel that
// has it but will not give it to this program names it: "unknown func
// bpf_probe_read#4" (before 5.14) or "program of this type cannot use helper
// bpf_probe_read#4": the program type got it later, or lockdown forbids it.
// (libbpf turns bpf_probe_read_kernel calls into bpf_probe_read where its
// probe of the former fails, as it does under lockdown.)
struct RefusedHelper {
  std::string name; // "bpf_get_func_ret", or "#<id>" if nobody names it
  const char* since = nullptr;
  bool kernel_has_it = false;
};

std::optional<RefusedHelper> refused_helper(std::string_view log) {
  RefusedHelper h;
  size_t at = log.find("invalid func unknown#");
  if (at != std::string_view::npos) {
    at += std::string_view("invalid func unknown").size();
  } else {
    for (std::string_view named : {"unknown func ", "cannot use helper "}) {
      if (at = log.find(named); at != std::string_view::npos) {
        at += named.size();
        const size_t end = std::min(log.find_first_of("#\n ", at), log.size());
        h.name = log.substr(at, end - at);
        h.kernel_has_it = true;
        at = end;
        break;
      }
    }
    if (!h.kernel_has_it)
      return std::nullopt;
  }
  int id = -1;
  if (at < log.size() && log[at] == '#') {
    const char* first = log.data() + at + 1;
    if (std::from_chars(first, log.data() + log.size(), id).ec != std::errc())
      id = -1;
  }
  if (const HelperSince* known = helper_by_id(id)) {
    h.name = known->name;
    h.since = known->since;
  } else if (h.name.empty()) {
    if (id < 0)
      return std::nullopt;
    h.name = "#" + std::to_string(id);
  }
  return h;
}

// The helpers that read kernel memory: what lockdown=confidentiality takes
// away from BPF (LOCKDOWN_BPF_READ_KERNEL).
bool reads_kernel_memory(std::string_view helper) {
  return helper.starts_with("bpf_probe_read") && !helper.starts_with("bpf_probe_read_user");
}

} // namespace

const char* bpf_helper_name(int id) {
  const HelperSince* h = helper_by_id(id);
  return h ? h->name : nullptr;
}

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

namespace {

// tracefs where libbpf looks for it: its own mount, or debugfs's tracing/.
bool tracefs_mounted() {
  return access("/sys/kernel/tracing/events", F_OK) == 0 ||
         access("/sys/kernel/debug/tracing/events", F_OK) == 0;
}

} // namespace

void ensure_tracefs() {
  if (tracefs_mounted())
    return;
  // Best effort: if this fails, attach fails and says so.
  mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr);
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
  f.tracefs = tracefs_mounted();
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
  // First: libbpf rewrites a poisoned CO-RE call ("invalid func
  // unknown#195896080") into this message.
  if (libbpf_log.find("failed to resolve CO-RE relocation") != std::string_view::npos)
    return "a kernel type or field the " + name +
           " backend reads is missing from this kernel's BTF (CO-RE relocation failed)";
  if (const std::optional<RefusedHelper> h = refused_helper(libbpf_log)) {
    const std::string what =
        h->name + (h->since ? std::string(" (Linux ") + h->since + "+)" : std::string());
    if (!h->kernel_has_it)
      return "this kernel lacks the BPF helper " + what + " that the " + name +
             " backend calls (the kernel is too old)";
    if (facts.lockdown == "confidentiality" && reads_kernel_memory(h->name))
      return "the kernel's lockdown (confidentiality) forbids the BPF helper " + h->name +
             ", with which the " + name + " backend reads kernel memory";
    return "this kernel has the BPF helper " + what + " but refuses it to the " + name +
           " backend's programs (lockdown, or the kernel is too old to offer it to them)";
  }
  const int e = failure.err;
  if (name == "kprobe" && !facts.kprobes)
    return "this kernel has no kprobes (CONFIG_KPROBES is off)";
  if ((name == "tracepoint" || name == "kprobe") && !facts.tracefs)
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
