// The connections that were already established when nettrace started
// (issue 13, "Existing connections"): every TCP connection in ESTABLISHED
// state, in every network namespace on the host, each with the process that
// holds it. A Source for the run loop turns these into lines before the first
// live event and drops live events whose socket it already reported.
//
// How: a BPF iterator (iter/task_file, bpf/snapshot_iter.bpf.c) visits every
// task's descriptor table once and reports each TCP socket in it; where it
// does not load, NETLINK_SOCK_DIAG (inet_diag) dumps the ESTABLISHED and
// LISTEN sockets of each network namespace (entered by setns() on one helper
// thread), then one walk over /proc/PID/fd finds their holders. The reasons
// are in snapshot.cpp and snapshot_iter.cpp, the pure parts in
// snapshot_parse.h.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "trace/record.h"
#include "tracer/options.h"

namespace nt {

// One established connection and who holds it.
struct ExistingConnection {
  // type: Accept when a LISTEN socket of the same network namespace holds the
  // local port (the connection came in), else Connect. local/remote as the
  // socket has them (IPv4-mapped IPv6 unmapped, as the tracer prints them).
  // pid/comm/uid/cgroup_id are the owner's (below); tid = pid (the thread is
  // not known); netns is the socket's network namespace inode; time_ns is the
  // moment the snapshot started; has_details is true.
  Record record;
  // The socket's identity, to drop a live event for the same connection:
  // the sockfs inode ("socket:[N]" in /proc/PID/fd) and the socket cookie
  // (SO_COOKIE, bpf_get_socket_cookie(); inet_diag reports it). Both are
  // unique for the life of the host. cookie 0 = not known: the iterator
  // reads the cookie and cannot make one, so a socket nobody asked the
  // cookie of yet has 0; match on the cookie when both sides have one, else
  // on the inode.
  uint64_t inode = 0;
  uint64_t cookie = 0;
  // The owner: of the processes that hold the socket in a descriptor and pass
  // the process filters (pid, uid, comm, cgroup), the one with the lowest pid,
  // and its lowest descriptor for it. Deterministic, and after a fork the
  // lowest pid is usually the parent that made the connection.
  int32_t owner_fd = -1;
  // How many other processes hold the same socket (inherited by fork, passed
  // with SCM_RIGHTS), whether or not they pass the filters.
  uint32_t other_holders = 0;
};

// How the snapshot is taken. Iterator: the BPF iterator over every task's
// descriptors (bpf/snapshot_iter.bpf.c; kernel 5.11+, CAP_BPF+CAP_PERFMON).
// Proc: sock_diag in each network namespace, then every /proc/PID/fd (any
// kernel). Auto: the iterator, and /proc where it does not load.
enum class SnapshotMethod : uint8_t { Auto, Iterator, Proc };

struct SnapshotStats {
  SnapshotMethod method = SnapshotMethod::Auto; // the one used (Iterator or Proc)
  uint32_t netns = 0;            // network namespaces dumped (Iterator: seen holding a TCP socket)
  uint32_t netns_failed = 0;     // ... that could not be entered or dumped
  uint32_t processes = 0;        // processes whose descriptors were read (Iterator: holding TCP)
  uint32_t processes_failed = 0; // ... that vanished or could not be read
  // Proc: every descriptor looked at; Iterator: the TCP sockets in descriptors.
  uint64_t fds = 0;
  // ESTABLISHED sockets the kernel listed, before the filters (Iterator: per
  // descriptor, so a shared socket counts once for each).
  uint64_t established = 0;
  uint64_t unowned = 0;     // wanted sockets no process holds (kernel sockets)
  uint64_t connections = 0; // reported
  // The wall time of the two steps. Proc: listing processes, namespaces and
  // sockets (sock_diag), then reading every process's descriptors. Iterator:
  // loading the program (libbpf reads the kernel's BTF; nothing when nettrace
  // loaded it ahead, load_snapshot_iterator) and attaching it, then reading it.
  uint64_t diag_ns = 0;
  uint64_t walk_ns = 0;
  uint64_t elapsed_ns = 0; // wall time of the whole snapshot
};

struct SnapshotSummary {
  SnapshotStats stats;
  // Why Auto did not use the iterator (it then read /proc, completely): the
  // normal state of things before 5.11, so a note for -v, not a warning.
  std::string fallback;
  // One line per problem that made the snapshot incomplete (a namespace that
  // could not be entered...), for the user to see with -v.
  std::vector<std::string> warnings;
};

struct Snapshot {
  std::vector<ExistingConnection> connections; // by owner pid, then owner fd
  SnapshotStats stats;
  // One line per problem that made the snapshot incomplete (a namespace that
  // could not be entered...), for the user to see with -v.
  std::vector<std::string> warnings;
};

// Calls `emit` for every established TCP connection that the filters in
// `filter` let through, in owner pid then owner fd order (the same
// ExistingConnection object each time: copy what you keep). What it holds
// meanwhile is one entry of about 100 bytes per wanted connection and one
// per owning process, never the records: the way to print 100,000
// connections. The filters and errors are take_snapshot()'s (below).
// `count`, when given, is called once before the first `emit` (also when
// there is none) with how many will follow: the arrow format's
// "# snapshot N connections" marker goes before the lines.
// The snapshot's BPF iterator, loaded ahead of the walk. nettrace loads it
// before the tracer maps its ring buffer: libbpf parses the kernel's BTF for
// every object it loads (about 11 MB on this project's 6.18, freed after the
// load), and a parse made with the ring's 8 MB already mapped raised the peak
// RSS by that much (BENCHMARKS.md, issue 18). Holds the loaded program, or the
// reason it did not load; defined in snapshot_iter.cpp.
struct SnapshotIterator;
struct SnapshotIteratorFree {
  void operator()(SnapshotIterator* it) const noexcept;
};
using LoadedSnapshotIterator = std::unique_ptr<SnapshotIterator, SnapshotIteratorFree>;
LoadedSnapshotIterator load_snapshot_iterator();

// `loaded`, when given, is the iterator to walk with (else it is loaded here;
// either way a failure to load falls back as `method` says).
SnapshotSummary for_each_existing(const TracerOptions& filter,
                                  const std::function<void(const ExistingConnection&)>& emit,
                                  SnapshotMethod method = SnapshotMethod::Auto,
                                  const std::function<void(uint64_t)>& count = nullptr,
                                  SnapshotIterator* loaded = nullptr);

// Every established TCP connection that the filters in `filter` let through
// (pid, uid, comm, cgroup_path: of the owner; ports, family, direction,
// netns: of the socket; backend and ring buffer settings are ignored).
// Needs root (CAP_SYS_ADMIN to enter namespaces, CAP_SYS_PTRACE or
// CAP_DAC_READ_SEARCH to read other processes' descriptors); without it the
// snapshot holds what could be read and stats say what could not.
// Throws TracerError(kExitUsage) for a cgroup_path that is not a cgroup v2
// directory, as the tracer does, and TracerError(kExitNoBackend) when
// SnapshotMethod::Iterator is asked for and does not load (Auto falls back
// to Proc and says so in warnings).
Snapshot take_snapshot(const TracerOptions& filter, SnapshotMethod method = SnapshotMethod::Auto);

} // namespace nt
