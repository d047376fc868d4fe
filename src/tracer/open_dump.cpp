#include "tracer/open_dump.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "tracer/skeleton_util.h"

// After skeleton_util.h: the skeleton names struct nt_config, defined there.
#include "open_iter.skel.h"

namespace nt {
namespace {

// A socket as sock_diag names it: family, local and remote address and port.
using SockKey =
    std::tuple<uint16_t, std::array<uint8_t, 16>, uint16_t, std::array<uint8_t, 16>, uint16_t>;

struct Counters {
  int state = 0;
  uint64_t bytes_sent = 0, bytes_acked = 0, bytes_received = 0;
  bool has_bytes_sent = false;
  uint32_t retransmits = 0, srtt_us = 0;
};

SockKey key_of(uint16_t family, const uint8_t* laddr, uint16_t lport, const uint8_t* raddr,
               uint16_t rport) {
  SockKey k;
  std::get<0>(k) = family;
  std::memcpy(std::get<1>(k).data(), laddr, family == NT_AF_INET ? 4 : 16);
  std::get<2>(k) = lport;
  std::memcpy(std::get<3>(k).data(), raddr, family == NT_AF_INET ? 4 : 16);
  std::get<4>(k) = rport;
  return k;
}

// Every TCP socket of this thread's network namespace with its tcp_info.
bool diag_dump(uint8_t family, std::map<SockKey, Counters>& out) {
  UniqueFd fd(socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!fd)
    return false;
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } msg{};
  msg.nlh.nlmsg_len = sizeof msg;
  msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.req.sdiag_family = family;
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_ext = 1 << (INET_DIAG_INFO - 1);
  msg.req.idiag_states = ~0u;
  if (send(fd.get(), &msg, sizeof msg, 0) != ssize_t(sizeof msg))
    return false;
  std::vector<char> buf(1 << 16);
  for (;;) {
    const ssize_t got = recv(fd.get(), buf.data(), buf.size(), 0);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      return false;
    size_t n = size_t(got);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_type == NLMSG_DONE)
        return true;
      if (h->nlmsg_type == NLMSG_ERROR)
        return false;
      const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      Counters c;
      c.state = m->idiag_state;
      int len = int(h->nlmsg_len - NLMSG_LENGTH(sizeof *m));
      for (auto* a = reinterpret_cast<rtattr*>(const_cast<inet_diag_msg*>(m) + 1); RTA_OK(a, len);
           a = RTA_NEXT(a, len)) {
        if (a->rta_type != INET_DIAG_INFO)
          continue;
        tcp_info ti{};
        const size_t got = std::min(sizeof ti, size_t(RTA_PAYLOAD(a)));
        std::memcpy(&ti, RTA_DATA(a), got);
        c.bytes_acked = ti.tcpi_bytes_acked;
        c.bytes_received = ti.tcpi_bytes_received;
        c.has_bytes_sent = got >= offsetof(tcp_info, tcpi_bytes_sent) + sizeof ti.tcpi_bytes_sent;
        c.bytes_sent = ti.tcpi_bytes_sent;
        c.retransmits = ti.tcpi_total_retrans;
        c.srtt_us = ti.tcpi_rtt;
      }
      out[key_of(m->idiag_family, reinterpret_cast<const uint8_t*>(m->id.idiag_src),
                 ntohs(m->id.idiag_sport), reinterpret_cast<const uint8_t*>(m->id.idiag_dst),
                 ntohs(m->id.idiag_dport))] = c;
    }
  }
}

uint64_t netns_of(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? uint64_t(st.st_ino) : 0;
}

// Runs `dump` inside network namespace `netns`, entered through the
// /proc/PID/ns/net of one of `pids`; false if none leads there.
template <typename F> bool in_netns(uint32_t netns, const std::vector<uint32_t>& pids, F dump) {
  UniqueFd home(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  for (uint32_t pid : pids) {
    if (!pid)
      continue;
    const std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
    if (netns_of(path) != netns)
      continue;
    UniqueFd there(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!home || !there || setns(there.get(), CLONE_NEWNET) != 0)
      continue;
    const bool ok = dump();
    // Back home, or every later socket would be made in the wrong place.
    if (setns(home.get(), CLONE_NEWNET) != 0)
      return false;
    return ok;
  }
  return false;
}

} // namespace

void OpenDump::SkelDeleter::operator()(open_iter* s) const noexcept {
  open_iter__destroy(s);
}

void OpenDump::LinkDeleter::operator()(bpf_link* l) const noexcept {
  bpf_link__destroy(l);
}

std::unique_ptr<OpenDump> OpenDump::open(int owners_fd) {
  std::unique_ptr<OpenDump> d(new OpenDump);
  if (!d->open_iterator(owners_fd)) {
    d->skel_.reset();
    d->link_.reset();
    d->reader_.reset();
    d->owners_ = UniqueFd(fcntl(owners_fd, F_DUPFD_CLOEXEC, 0));
  }
  return d;
}

bool OpenDump::open_iterator(int owners_fd) {
  OpenDump* d = this;
  std::string& why = iterator_failure_;
  d->skel_.reset(open_iter__open());
  if (!d->skel_) {
    why = "open: " + errno_text(errno);
    return false;
  }
  // The backend's owner map, not a new one; the ring buffer is unused here,
  // so it gets the smallest size.
  if (int err = bpf_map__reuse_fd(d->skel_->maps.owners, owners_fd)) {
    why = "owner map: " + errno_text(err);
    return false;
  }
  bpf_map__set_max_entries(d->skel_->maps.events, uint32_t(sysconf(_SC_PAGESIZE)));
  if (int err = open_iter__load(d->skel_.get())) {
    why = "load: " + errno_text(err);
    return false;
  }
  union bpf_iter_link_info info {};
  info.map.map_fd = uint32_t(owners_fd);
  LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof info);
  d->link_.reset(bpf_program__attach_iter(d->skel_->progs.dump_open, &opts));
  if (!d->link_) {
    why = "attach: " + errno_text(errno);
    return false;
  }
  d->reader_ = UniqueFd(bpf_iter_create(bpf_link__fd(d->link_.get())));
  if (!d->reader_) {
    why = "iterator: " + errno_text(errno);
    return false;
  }
  return true;
}

OpenDump::~OpenDump() = default;

int OpenDump::read(const ClockOffset& clock, const RecordCallback& cb) {
  return reader_ ? read_iterator(clock, cb) : read_map(clock, cb);
}

int OpenDump::read_iterator(const ClockOffset& clock, const RecordCallback& cb) {
  // Whole records only: the iterator writes each in one piece.
  std::vector<char> buf;
  char chunk[8192];
  for (;;) {
    const ssize_t n = ::read(reader_.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      failure_ = "reading the iterator: " + errno_text(errno);
      reader_.reset();
      return -1;
    }
    if (n == 0)
      break;
    buf.insert(buf.end(), chunk, chunk + n);
  }
  reader_.reset();
  int count = 0;
  Record r;
  for (size_t at = 0; at + sizeof(nt_close_event) <= buf.size(); at += sizeof(nt_close_event))
    if (decode_event(buf.data() + at, sizeof(nt_close_event), clock, r)) {
      cb(r);
      ++count;
    }
  return count;
}

int OpenDump::read_map(const ClockOffset& clock, const RecordCallback& cb) {
  if (!owners_) {
    failure_ = "no owner map";
    return -1;
  }
  std::vector<nt_owner> owners;
  uint64_t key = 0, next = 0;
  void* prev = nullptr;
  while (bpf_map_get_next_key(owners_.get(), prev, &next) == 0) {
    nt_owner o{};
    if (bpf_map_lookup_elem(owners_.get(), &next, &o) == 0)
      owners.push_back(o);
    key = next;
    prev = &key;
  }
  if (errno != ENOENT) {
    failure_ = errno == EPERM ? "no privilege left to read the owner map: --user dropped it"
                              : "reading the owner map: " + errno_text(errno);
    owners_.reset();
    return -1;
  }
  owners_.reset();
  // Each namespace's sockets, once.
  const uint64_t own = netns_of("/proc/self/ns/net");
  std::map<uint32_t, std::map<SockKey, Counters>> sockets;
  std::map<uint32_t, bool> readable;
  for (const nt_owner& o : owners) {
    if (readable.count(o.netns))
      continue;
    auto& table = sockets[o.netns];
    auto dump = [&table] { return diag_dump(AF_INET, table) && diag_dump(AF_INET6, table); };
    if (o.netns == own) {
      readable[o.netns] = dump();
      continue;
    }
    std::vector<uint32_t> pids;
    for (const nt_owner& p : owners)
      if (p.netns == o.netns) {
        pids.push_back(p.id.pid);
        pids.push_back(p.last_pid);
      }
    readable[o.netns] = in_netns(o.netns, pids, dump);
  }
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const uint64_t now_ns = uint64_t(now.tv_sec) * 1000000000ull + uint64_t(now.tv_nsec);
  int count = 0;
  Record r;
  for (const nt_owner& o : owners) {
    nt_close_event c{};
    c.e.kind = NT_EV_OPEN;
    c.e.family = o.family;
    c.e.lport = o.lport;
    c.e.rport = o.rport;
    c.e.pid = o.id.pid;
    c.e.tid = o.id.tid;
    c.e.uid = o.id.uid;
    c.e.netns = o.netns;
    c.e.ts_ns = now_ns;
    c.e.cgroup_id = o.id.cgroup_id;
    c.e.ppid = o.id.ppid;
    c.e.start_ns = o.id.start_ns;
    std::memcpy(c.e.laddr, o.laddr, sizeof c.e.laddr);
    std::memcpy(c.e.raddr, o.raddr, sizeof c.e.raddr);
    std::memcpy(c.e.comm, o.id.comm, sizeof c.e.comm);
    c.duration_ns = now_ns - o.start_ns;
    c.last_pid = o.last_pid;
    c.side = o.side;
    std::memcpy(c.last_comm, o.last_comm, sizeof c.last_comm);
    if (readable[o.netns]) {
      const auto& table = sockets[o.netns];
      auto it = table.find(key_of(o.family, o.laddr, o.lport, o.raddr, o.rport));
      // Not there: closed since (its close went out) or a stale entry.
      if (it == table.end() || it->second.state == BPF_TCP_CLOSE)
        continue;
      const Counters& k = it->second;
      // Payload bytes, as the kernel side counts them (nt_fill_counters).
      const bool fin_in = k.state == BPF_TCP_CLOSE_WAIT || k.state == BPF_TCP_LAST_ACK ||
                          k.state == BPF_TCP_CLOSING;
      c.bytes_received = k.bytes_received - (fin_in && k.bytes_received ? 1 : 0);
      if (k.has_bytes_sent) {
        c.bytes_sent = k.bytes_sent;
      } else {
        const bool fin_acked = k.state == BPF_TCP_FIN_WAIT2 || k.state == BPF_TCP_CLOSING ||
                               k.state == BPF_TCP_LAST_ACK;
        const uint64_t syn = o.side == NT_EV_CONNECT ? 1 : 0;
        const uint64_t seq = syn + (fin_acked ? 1 : 0);
        c.bytes_sent = k.bytes_acked > seq ? k.bytes_acked - seq : 0;
      }
      c.retransmits = k.retransmits;
      c.srtt_us = k.srtt_us;
    } else {
      ++bytes_unknown_;
    }
    if (decode_event(&c, sizeof c, clock, r)) {
      cb(r);
      ++count;
    }
  }
  return count;
}

} // namespace nt
