// The snapshot's fast path: bpf/snapshot_iter.bpf.c walks every task's
// descriptor table in the kernel and writes one record per TCP socket in
// ESTABLISHED or LISTEN state; this reads them. One read() per 64 KiB of
// records instead of a getdents64() and a readlinkat() per descriptor of
// every process and a netlink dump per namespace.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "snapshot/snapshot_internal.h"
#include "snapshot_iter.skel.h"
#include "util/unique_fd.h"

namespace nt::snap {

namespace {

struct SkelDeleter {
  void operator()(snapshot_iter* s) const noexcept { snapshot_iter__destroy(s); }
};
struct LinkDeleter {
  void operator()(bpf_link* l) const noexcept { bpf_link__destroy(l); }
};

} // namespace

} // namespace nt::snap

namespace nt {

struct SnapshotIterator {
  std::unique_ptr<snapshot_iter, snap::SkelDeleter> skel;
  std::string why; // when skel is null
};

void SnapshotIteratorFree::operator()(SnapshotIterator* it) const noexcept {
  delete it;
}

LoadedSnapshotIterator load_snapshot_iterator() {
  LoadedSnapshotIterator it(new SnapshotIterator);
  it->skel.reset(snapshot_iter__open_and_load());
  if (!it->skel)
    it->why = std::string("the BPF iterator did not load: ") + std::strerror(errno);
  return it;
}

} // namespace nt

namespace nt::snap {

bool collect_by_iterator(const SocketFilter& sockets, const ProcessFilter& processes,
                         Collected& out, SnapshotStats& stats, std::string& why,
                         SnapshotIterator* loaded) {
  const auto started = std::chrono::steady_clock::now();
  auto since_start = [&] {
    return uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count());
  };
  LoadedSnapshotIterator here;
  if (!loaded) {
    here = load_snapshot_iterator();
    loaded = here.get();
  }
  if (!loaded->skel) {
    why = loaded->why;
    return false;
  }
  std::unique_ptr<bpf_link, LinkDeleter> link(
      bpf_program__attach_iter(loaded->skel->progs.snapshot_task_file, nullptr));
  if (!link) {
    why = std::string("the BPF iterator did not attach: ") + std::strerror(errno);
    return false;
  }
  UniqueFd iter(bpf_iter_create(bpf_link__fd(link.get())));
  if (!iter) {
    why = std::string("the BPF iterator could not be started: ") + std::strerror(errno);
    return false;
  }

  // Loading (libbpf reads the kernel's BTF, the verifier runs) unless it was
  // loaded ahead, and attaching.
  stats.diag_ns = since_start();

  // LISTEN sockets can come after the connections on their port (they sit in
  // another process, or at a higher fd), so directions are settled at the end.
  absl::flat_hash_map<uint32_t, std::unique_ptr<ListenPorts>> listening; // by netns
  absl::flat_hash_map<uint64_t, uint32_t> by_inode; // socket inode -> index in out.socks
  std::vector<uint8_t> buf(1 << 16);
  std::vector<IterSocket> batch;
  size_t have = 0;
  absl::flat_hash_set<uint32_t> namespaces;
  uint32_t last_pid = 0;
  bool any = false;
  for (;;) {
    const ssize_t n = read(iter.get(), buf.data() + have, buf.size() - have);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      // The walk is not restartable from the middle: better none than half.
      why = std::string("reading the BPF iterator failed: ") + std::strerror(errno);
      out = {};
      return false;
    }
    if (n == 0)
      break;
    have += size_t(n);
    batch.clear();
    const size_t used = parse_iter_records({buf.data(), have}, batch);
    std::memmove(buf.data(), buf.data() + used, have - used);
    have -= used;
    for (const IterSocket& r : batch) {
      ++stats.fds;
      namespaces.insert(r.netns);
      if (!any || r.pid != last_pid) {
        ++stats.processes;
        last_pid = r.pid;
        any = true;
      }
      if (r.s.state == kTcpListen) {
        auto& ports = listening[r.netns];
        if (!ports)
          ports = std::make_unique<ListenPorts>();
        ports->add(r.s.local.port);
        continue;
      }
      ++stats.established;
      // The socket filters but direction, which needs every listener first.
      if (!sockets.wants(r.s, RecordType::Connect, r.netns) &&
          !sockets.wants(r.s, RecordType::Accept, r.netns))
        continue;
      auto [it, fresh] = by_inode.emplace(r.s.inode, uint32_t(out.socks.size()));
      if (fresh) {
        out.socks.push_back({r.s, RecordType::Connect, r.netns, {}});
      }
      const bool eligible = processes.wants(r.pid, r.uid, r.comm, r.cgroup_id);
      out.socks[it->second].holders.add(r.pid, r.fd, eligible);
      if (eligible && !out.owners.contains(r.pid))
        out.owners.emplace(r.pid, ProcInfo{r.comm, r.uid, r.cgroup_id, r.start_ns, r.ppid});
    }
  }
  stats.netns = uint32_t(namespaces.size());
  stats.walk_ns = since_start() - stats.diag_ns;
  by_inode = {};
  static const ListenPorts none;
  std::erase_if(out.socks, [&](Sock& k) {
    auto l = listening.find(k.netns);
    k.type = infer_direction(l != listening.end() ? *l->second : none, k.s.local.port);
    return !sockets.wants(k.s, k.type, k.netns);
  });
  return true;
}

} // namespace nt::snap
