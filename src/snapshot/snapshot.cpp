// The snapshot's common end (method choice, owners, emitting) and its /proc
// path: NETLINK_SOCK_DIAG per network namespace, then one walk over
// /proc/PID/fd. The /proc path is the fallback for kernels where the BPF
// iterator (snapshot_iter.cpp) does not load. Why sock_diag and not
// /proc/PID/net/tcp:
// - inet_diag is binary (no text to format and parse for 100,000 sockets), is
//   asked for only the states we want (the kernel skips the listening hash
//   when asked for ESTABLISHED, and the established hash when asked for
//   LISTEN), and gives the socket cookie, the identity BPF programs see
//   (bpf_get_socket_cookie()); /proc/net/tcp has no cookie.
// - It works on every kernel, without BTF or BPF iterators (iter/task_file
//   needs 5.8, bpf_sock_from_file 5.11).
// Memory is bounded by the number of wanted ESTABLISHED sockets (one entry
// each, about 100 bytes) and the number of processes that own one: LISTEN
// sockets only set bits in a 64 Kibit port map, reused for every namespace,
// and netlink replies are parsed one recv() at a time.
#include "snapshot/snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <absl/container/flat_hash_map.h>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "snapshot/snapshot_internal.h"
#include "trace/identity.h"
#include "tracer/errors.h"
#include "util/unique_fd.h"

namespace nt {

namespace {

using snap::DiagBatch;
using snap::DiagSocket;
using snap::ProcInfo;
using snap::Sock;

std::string errno_text(int err) {
  return std::strerror(err);
}

// Calls fn(name) for every entry of the directory `dir`, through getdents64
// with one fixed buffer: a process with 200,000 descriptors costs no memory.
template <typename Fn> bool for_each_entry(int dir, Fn&& fn) {
  alignas(8) char buf[16384];
  for (;;) {
    const long n = syscall(SYS_getdents64, dir, buf, sizeof buf);
    if (n < 0)
      return false;
    if (n == 0)
      return true;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<const dirent64*>(buf + off);
      fn(std::string_view(d->d_name));
      off += d->d_reclen;
    }
  }
}

template <typename T> std::optional<T> number(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size())
    return std::nullopt;
  return v;
}

// Reads a small file (under `dir`) into `buf`; empty on failure.
std::string_view read_small(int dir, const char* path, char* buf, size_t size) {
  UniqueFd fd(openat(dir, path, O_RDONLY | O_CLOEXEC));
  if (!fd)
    return {};
  size_t got = 0;
  while (got < size) {
    const ssize_t n = read(fd.get(), buf + got, size - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += size_t(n);
  }
  return {buf, got};
}

struct Netns {
  uint32_t inode = 0;
  UniqueFd fd; // an open /proc/PID/ns/net or /run/netns/NAME
};

// Step 1: the processes (thread-group leaders: /proc lists no other task)
// and the network namespaces they live in, plus the named ones (`ip netns
// add`), which may have no process at all.
void list_processes(int proc, std::vector<uint32_t>& pids, std::vector<Netns>& nss,
                    std::vector<std::string>& warnings) {
  std::unordered_set<uint32_t> seen;
  auto add_ns = [&](int dir, const char* path) {
    struct stat st {};
    if (fstatat(dir, path, &st, 0) != 0 || seen.contains(uint32_t(st.st_ino)))
      return;
    UniqueFd fd(openat(dir, path, O_RDONLY | O_CLOEXEC));
    if (!fd)
      return; // gone, or a zombie (no namespaces left)
    seen.insert(uint32_t(st.st_ino));
    nss.push_back({uint32_t(st.st_ino), std::move(fd)});
  };
  char path[64];
  for_each_entry(proc, [&](std::string_view name) {
    auto pid = number<uint32_t>(name);
    if (!pid)
      return;
    pids.push_back(*pid);
    std::snprintf(path, sizeof path, "%u/ns/net", *pid);
    add_ns(proc, path);
  });
  std::sort(pids.begin(), pids.end()); // the owner rule wants pid order anyway
  UniqueFd named(open("/run/netns", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (named) {
    std::vector<std::string> names;
    for_each_entry(named.get(), [&](std::string_view n) {
      if (n != "." && n != "..")
        names.emplace_back(n);
    });
    for (const auto& n : names)
      add_ns(named.get(), n.c_str());
  } else if (errno != ENOENT) {
    warnings.push_back("snapshot: cannot list /run/netns: " + errno_text(errno));
  }
}

// One NETLINK_SOCK_DIAG socket in each namespace. A netlink socket stays in
// the namespace it was made in, so one helper thread enters each namespace in
// turn (setns() moves only the calling thread) and makes the sockets; this
// thread never changes namespace. An entry stays empty when it failed.
std::vector<UniqueFd> diag_sockets(const std::vector<Netns>& nss,
                                   std::vector<std::string>& warnings) {
  std::vector<UniqueFd> socks(nss.size());
  std::vector<std::string> problems;
  std::thread helper([&] {
    for (size_t i = 0; i < nss.size(); ++i) {
      if (setns(nss[i].fd.get(), CLONE_NEWNET) != 0) {
        problems.push_back("snapshot: cannot enter network namespace " +
                           std::to_string(nss[i].inode) + ": " + errno_text(errno) +
                           " (run as root)");
        continue;
      }
      socks[i].reset(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
      if (!socks[i])
        problems.push_back("snapshot: no sock_diag socket in network namespace " +
                           std::to_string(nss[i].inode) + ": " + errno_text(errno));
    }
  });
  helper.join();
  warnings.insert(warnings.end(), problems.begin(), problems.end());
  return socks;
}

// Dumps the TCP sockets of one family in `states` (a TCPF_* mask) and hands
// each to `on_socket`, one recv() worth at a time. 0 or a positive errno.
int dump_tcp(int sock, uint8_t family, uint32_t states, std::vector<uint8_t>& buf,
             std::vector<DiagSocket>& batch,
             const std::function<void(const DiagSocket&)>& on_socket) {
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.nlh.nlmsg_seq = 1;
  msg.req.sdiag_family = family;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = states;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(sock, &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0)
    return errno;
  for (;;) {
    const ssize_t n = recv(sock, buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    batch.clear();
    const DiagBatch b = snap::parse_diag_batch({buf.data(), size_t(n)}, batch);
    for (const auto& s : batch)
      on_socket(s);
    if (b.status == DiagBatch::Done)
      return 0;
    if (b.status == DiagBatch::Error)
      return b.error;
    if (n == 0)
      return EPIPE;
  }
}

// cgroup v2 ids: the inode of the cgroup's directory, which is what
// bpf_get_current_cgroup_id() returns. Resolved once per path.
class CgroupIds {
public:
  uint64_t of_process(int proc, uint32_t pid) {
    char path[64], buf[8192];
    std::snprintf(path, sizeof path, "%u/cgroup", pid);
    auto rel = snap::parse_cgroup_v2_path(read_small(proc, path, buf, sizeof buf));
    if (!rel || !mount())
      return 0;
    std::string full = *mount_ + std::string(*rel);
    if (auto it = ids_.find(full); it != ids_.end())
      return it->second;
    struct stat st {};
    const uint64_t id = stat(full.c_str(), &st) == 0 ? st.st_ino : 0;
    ids_.emplace(std::move(full), id);
    return id;
  }

private:
  bool mount() {
    if (!mount_) {
      std::string text;
      UniqueFd fd(open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
      char buf[8192];
      for (ssize_t n; fd && (n = read(fd.get(), buf, sizeof buf)) > 0;)
        text.append(buf, size_t(n));
      mount_ = snap::parse_cgroup2_mount(text).value_or("");
    }
    return !mount_->empty();
  }
  std::optional<std::string> mount_;
  std::unordered_map<std::string, uint64_t> ids_;
};

ProcInfo read_process(int proc, uint32_t pid, CgroupIds& cgroups) {
  ProcInfo p;
  char path[64], buf[4096];
  std::snprintf(path, sizeof path, "%u/comm", pid);
  p.comm = std::string(snap::parse_comm(read_small(proc, path, buf, sizeof buf)));
  std::snprintf(path, sizeof path, "%u/status", pid);
  p.uid = snap::parse_status_uid(read_small(proc, path, buf, sizeof buf)).value_or(0);
  p.cgroup_id = cgroups.of_process(proc, pid);
  // stat's starttime is in clock ticks: the kernel's start_boottime
  // truncated, so ns here are a multiple of a tick (netgraph compares
  // start times at that granularity; src/trace/identity.h).
  std::snprintf(path, sizeof path, "%u/stat", pid);
  if (const auto st = parse_proc_stat(read_small(proc, path, buf, sizeof buf))) {
    p.ppid = st->ppid;
    p.start_ns = st->start_ticks * kNsPerTick;
  }
  return p;
}

uint64_t cgroup_id_of_path(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw TracerError(kExitUsage,
                      "--cgroup " + path +
                          ": not a cgroup v2 directory (e.g. /sys/fs/cgroup/system.slice)");
  return st.st_ino; // on cgroup v2 the directory's inode is the cgroup id
}

// The /proc path: sock_diag per namespace, then every process's descriptors.
void collect_by_proc(const snap::SocketFilter& sockets_wanted,
                     const snap::ProcessFilter& processes_wanted, snap::Collected& got,
                     SnapshotSummary& out) {
  const auto started = std::chrono::steady_clock::now();
  auto since_start = [&] {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count());
  };
  UniqueFd proc(open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!proc) {
    out.warnings.push_back("snapshot: cannot open /proc: " + errno_text(errno));
    return;
  }
  std::vector<uint32_t> pids;
  std::vector<Netns> nss;
  list_processes(proc.get(), pids, nss, out.warnings);

  // Step 2: the wanted ESTABLISHED sockets of every namespace. LISTEN first,
  // so that each ESTABLISHED socket's direction is known as it arrives and
  // filtered sockets cost nothing.
  std::deque<Sock>& socks = got.socks;
  absl::flat_hash_map<uint64_t, uint32_t> by_inode; // socket inode -> index in socks
  {
    std::vector<UniqueFd> diag = diag_sockets(nss, out.warnings);
    std::vector<uint8_t> buf(1 << 16);
    std::vector<DiagSocket> batch;
    snap::ListenPorts listening;
    for (size_t i = 0; i < nss.size(); ++i) {
      if (!diag[i]) {
        ++out.stats.netns_failed;
        continue;
      }
      const uint32_t netns = nss[i].inode;
      listening.clear();
      int err = 0;
      for (uint8_t family : {uint8_t(AF_INET), uint8_t(AF_INET6)})
        if (!err)
          err = dump_tcp(diag[i].get(), family, 1u << snap::kTcpListen, buf, batch,
                         [&](const DiagSocket& s) { listening.add(s.local.port); });
      for (uint8_t family : {uint8_t(AF_INET), uint8_t(AF_INET6)})
        if (!err)
          err = dump_tcp(diag[i].get(), family, 1u << snap::kTcpEstablished, buf, batch,
                         [&](const DiagSocket& s) {
                           if (s.state != snap::kTcpEstablished)
                             return;
                           ++out.stats.established;
                           // No inode: still in an accept queue, with no
                           // process yet; the live accept reports it.
                           if (s.inode == 0)
                             return;
                           const RecordType type = snap::infer_direction(listening, s.local.port);
                           if (!sockets_wanted.wants(s, type, netns))
                             return;
                           if (by_inode.emplace(s.inode, uint32_t(socks.size())).second)
                             socks.push_back({s, type, netns, {}});
                         });
      if (err) {
        ++out.stats.netns_failed;
        // ENOENT: no handler for TCP sock_diag, i.e. the tcp_diag module is
        // not loaded and the kernel could not load it (no modprobe, or
        // module loading is off).
        out.warnings.push_back(
            "snapshot: sock_diag dump of network namespace " + std::to_string(netns) +
            " failed: " + errno_text(err) +
            (err == ENOENT ? " (the kernel's tcp_diag module is not loaded: modprobe tcp_diag)"
                           : ""));
        continue;
      }
      ++out.stats.netns;
    }
  }

  out.stats.diag_ns = since_start();

  // Step 3: who holds them. One pass over every process's descriptors, in
  // pid order; a process's details are read once, and only if it owns one.
  auto& owners = got.owners;
  CgroupIds cgroups;
  if (!socks.empty()) {
    char path[64], link[64];
    for (uint32_t pid : pids) {
      std::snprintf(path, sizeof path, "%u/fd", pid);
      UniqueFd dir(openat(proc.get(), path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!dir) {
        ++out.stats.processes_failed;
        continue;
      }
      ++out.stats.processes;
      // Unknown until the process holds a wanted socket: most hold none.
      std::optional<bool> eligible;
      const bool pid_ok = processes_wanted.wants_pid(pid);
      for_each_entry(dir.get(), [&](std::string_view name) {
        auto fd = number<int32_t>(name);
        if (!fd)
          return;
        ++out.stats.fds;
        const ssize_t n = readlinkat(dir.get(), name.data(), link, sizeof link);
        if (n <= 0)
          return;
        const uint64_t inode = snap::parse_socket_link({link, size_t(n)});
        if (inode == 0)
          return;
        auto it = by_inode.find(inode);
        if (it == by_inode.end())
          return;
        if (!eligible) {
          eligible = false;
          if (pid_ok) {
            ProcInfo info = read_process(proc.get(), pid, cgroups);
            eligible = processes_wanted.wants(pid, info.uid, info.comm, info.cgroup_id);
            if (*eligible)
              owners.emplace(pid, std::move(info));
          }
        }
        socks[it->second].holders.add(pid, *fd, *eligible);
      });
    }
  }

  out.stats.walk_ns = since_start() - out.stats.diag_ns;
}

} // namespace

SnapshotSummary for_each_existing(const TracerOptions& options,
                                  const std::function<void(const ExistingConnection&)>& emit,
                                  SnapshotMethod method, const std::function<void(uint64_t)>& count,
                                  SnapshotIterator* loaded) {
  const auto started = std::chrono::steady_clock::now();
  auto since_start = [&] {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count());
  };
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  const uint64_t time_ns = uint64_t(now.tv_sec) * 1000000000u + uint64_t(now.tv_nsec);

  const snap::SocketFilter sockets_wanted = snap::socket_filter_of(options);
  snap::ProcessFilter processes_wanted = snap::process_filter_of(options);
  if (!options.cgroup_path.empty())
    processes_wanted.cgroup_id = cgroup_id_of_path(options.cgroup_path);

  SnapshotSummary out;
  snap::Collected got;
  std::string why;
  if (method != SnapshotMethod::Proc) {
    if (snap::collect_by_iterator(sockets_wanted, processes_wanted, got, out.stats, why, loaded)) {
      out.stats.method = SnapshotMethod::Iterator;
    } else if (method == SnapshotMethod::Iterator) {
      throw TracerError(kExitNoBackend, "snapshot: " + why);
    } else {
      out.fallback = "snapshot: " + why + "; reading /proc instead";
      out.stats = {};
    }
  }
  if (out.stats.method != SnapshotMethod::Iterator) {
    out.stats.method = SnapshotMethod::Proc;
    collect_by_proc(sockets_wanted, processes_wanted, got, out);
  }
  std::deque<Sock>& socks = got.socks;
  const auto& owners = got.owners;

  std::erase_if(socks, [&](const Sock& k) {
    if (!k.holders.has_owner() && k.holders.processes == 0)
      ++out.stats.unowned;
    return !k.holders.has_owner();
  });
  std::sort(socks.begin(), socks.end(), [](const Sock& a, const Sock& b) {
    return std::tie(a.holders.owner_pid, a.holders.owner_fd) <
           std::tie(b.holders.owner_pid, b.holders.owner_fd);
  });
  if (count)
    count(socks.size());
  ExistingConnection c; // one, reused: its comm keeps its buffer
  c.record.has_details = true;
  c.record.time_ns = time_ns;
  for (const Sock& k : socks) {
    const ProcInfo& p = owners.at(k.holders.owner_pid);
    c.record.type = k.type;
    c.record.local = k.s.local;
    c.record.remote = k.s.remote;
    c.record.pid = k.holders.owner_pid;
    c.record.tid = k.holders.owner_pid;
    c.record.comm = p.comm;
    c.record.uid = p.uid;
    c.record.netns = k.netns;
    c.record.cgroup_id = p.cgroup_id;
    c.record.ppid = p.ppid;
    c.record.start_ns = p.start_ns;
    c.inode = k.s.inode;
    c.cookie = k.s.cookie;
    c.owner_fd = k.holders.owner_fd;
    c.other_holders = k.holders.others();
    ++out.stats.connections;
    emit(c);
  }
  out.stats.elapsed_ns = since_start();
  return out;
}

Snapshot take_snapshot(const TracerOptions& filter, SnapshotMethod method) {
  Snapshot s;
  SnapshotSummary sum = for_each_existing(
      filter, [&](const ExistingConnection& c) { s.connections.push_back(c); }, method);
  s.stats = sum.stats;
  s.warnings = std::move(sum.warnings);
  if (!sum.fallback.empty())
    s.warnings.push_back(sum.fallback);
  return s;
}

} // namespace nt
