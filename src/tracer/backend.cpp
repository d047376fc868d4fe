#include "tracer/backend.h"

#include <array>

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

} // namespace nt
