// Who a process is, from the text the kernel gives about it: /proc/PID/stat,
// /proc/PID/cgroup and the cgroup v2 path itself (container id, Kubernetes pod
// and QoS class, systemd unit). Pure functions over bytes, no I/O, so they are
// fuzzed (tests/fuzz/fuzz_cgroup_path.cpp); src/tracer/identity.h reads /proc
// and caches what these give.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nt {

// /proc counts times in clock ticks of USER_HZ, which the kernel ABI fixes at
// 100 on every architecture Linux runs this on: 10 ms.
inline constexpr uint64_t kNsPerTick = 10'000'000;

// A process start as /proc gives it: the kernel's start time in ns (the
// thread group leader's start_boottime) truncated to clock ticks. Two sources
// of one process (the BPF record in ns, /proc's starttime in ticks) agree
// on this value, so it is what identifies a process next to its pid.
inline constexpr uint64_t start_ticks_of(uint64_t start_ns) {
  return start_ns / kNsPerTick;
}

struct ProcStat {
  uint32_t ppid = 0;
  uint64_t start_ticks = 0; // field 22, starttime
};
// /proc/PID/stat: "pid (comm) state ppid ... starttime ...". comm may hold
// spaces and parentheses: the fields start after the last ')'.
std::optional<ProcStat> parse_proc_stat(std::string_view stat);

// The cgroup v2 path in /proc/PID/cgroup (the "0::" line; on a hybrid host
// the v1 lines come first). The path runs to the end of the file but its
// final newline: a directory name may itself hold a newline.
std::optional<std::string_view> parse_proc_cgroup(std::string_view text);

// /proc/PID/cmdline (arguments each followed by NUL) as one text: NULs
// between arguments become spaces, trailing NULs go, at most max_bytes kept.
// Bytes are kept raw; output escapes them like comm.
void cmdline_text(std::string_view raw, size_t max_bytes, std::string& out);

// What a cgroup v2 path says about its processes. Empty when it says nothing.
struct CgroupIdentity {
  // The container's id, 64 lower-case hex digits, from the runtimes' cgroup
  // names: docker-<id>.scope (Docker, systemd driver), cri-containerd-<id>.scope
  // (containerd's CRI), crio-<id>.scope (CRI-O), libpod-<id>.scope (podman),
  // or a directory that is the bare id (the cgroupfs drivers: /docker/<id>,
  // /kubepods/burstable/pod<uid>/<id>). The deepest one wins (a container
  // inside a container is the inner one).
  std::string container;
  // Kubernetes: the pod UID (kubepods-<qos>-pod<uid>.slice with its '_' back
  // to '-', or cgroupfs's pod<uid>) and its QoS class: "burstable",
  // "besteffort", or "guaranteed" for a pod directly under kubepods.
  std::string pod;
  std::string pod_qos;
  // systemd: the deepest component naming a service ("foo.service"), else
  // the deepest scope that is not a container's ("session-3.scope").
  std::string unit;
};
CgroupIdentity parse_cgroup_path(std::string_view path);

} // namespace nt
