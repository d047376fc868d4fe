#include "tracer/nat_source.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/capability.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <thread>
#include <unordered_map>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "trace/kinds.h"
#include "tracer/tracer.h"
#include "util/mono_clock.h"
#include "util/unique_fd.h"

namespace nt {
namespace {

// Namespaces whose netlink socket is kept; past it the oldest is closed (a
// socket holds its namespace alive, so the bound is also one on that).
constexpr size_t kMaxNamespaces = 64;
// How long one answer may take: the run loop waits at most this per lookup.
constexpr int kAnswerTimeoutMs = 100;
// Directories where tools keep namespaces alive by a bind mount (ip netns,
// Docker): a namespace whose processes have all gone is still found there.
constexpr const char* kNamespaceDirs[] = {"/run/netns", "/run/docker/netns"};
constexpr size_t kMaxDirEntries = 1024;
// A namespace that could not be found is not searched for again before this,
// and at most this many are remembered.
constexpr uint64_t kRetryNs = 1000000000ull;
constexpr size_t kMaxMissed = 4096;
// Translations kept for their connection's close record, at most.
constexpr size_t kMaxTranslated = 65536;
// Lookups may take at most this share of each second of the run loop: past
// it the ends are passed on unannotated (counted), so that a connection rate
// too high for a netlink round trip each cannot make the ring buffer overflow.
constexpr uint64_t kBudgetWindowNs = 1000000000ull;
constexpr uint64_t kBudgetNs = kBudgetWindowNs / 2;

bool exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

uint32_t inode_of(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? uint32_t(st.st_ino) : 0;
}

// An address as conntrack keeps it: IPv4 as IPv4 (a dual-stack socket's
// ::ffff:a.b.c.d peer is tracked as a.b.c.d).
Endpoint plain(Endpoint ep) {
  unmap_v4(ep.ip);
  return ep;
}

} // namespace

std::string conntrack_unavailable_reason(const std::string& root) {
  // nf_conntrack itself: its sysctl exists once it is loaded (or built in).
  if (!exists(root + "/proc/sys/net/netfilter/nf_conntrack_max"))
    return "nettrace: --nat: connection tracking (nf_conntrack) is not loaded here, so no "
           "connection is translated by this host's NAT; nettrace does not load it (records "
           "carry no nat fields)";
  // ctnetlink: asking it when it is a module not loaded makes the kernel load
  // it. Loaded (or built in with a /sys/module entry), listed as built in, or
  // no modules at all (nothing can be loaded): asking is only looking.
  if (exists(root + "/sys/module/nf_conntrack_netlink") || !exists(root + "/proc/modules"))
    return {};
  utsname u{};
  uname(&u);
  const std::string dir = root + "/lib/modules/" + u.release;
  if (!exists(dir))
    return {}; // no module on disk to load
  std::ifstream builtin(dir + "/modules.builtin");
  for (std::string line; std::getline(builtin, line);)
    if (line.find("/nf_conntrack_netlink.ko") != std::string::npos)
      return {};
  return "nettrace: --nat: conntrack's netlink interface (nf_conntrack_netlink) is not loaded and "
         "nettrace does not load it: run 'modprobe nf_conntrack_netlink' to see NAT (records "
         "carry no nat fields)";
}

bool translation_of(const ConntrackTuples& e, const Endpoint& local_in, const Endpoint& remote_in,
                    Endpoint& nat_remote, Endpoint& nat_local) {
  const Endpoint local = plain(local_in), remote = plain(remote_in);
  Endpoint peer, seen_as;
  if (e.orig_src == local && e.orig_dst == remote) {
    // This end sent the first packet: the answers come from the peer's own
    // address, to this end as the peer saw it.
    peer = e.reply_src;
    seen_as = e.reply_dst;
  } else if (e.reply_src == local && e.reply_dst == remote) {
    // This end answered: the first packet left the peer's own address, for
    // the address the peer asked for.
    peer = e.orig_src;
    seen_as = e.orig_dst;
  } else {
    return false;
  }
  nat_remote = peer == remote ? Endpoint{} : peer;
  nat_local = seen_as == local ? Endpoint{} : seen_as;
  return true;
}

// --- the per-namespace netlink sockets -----------------------------------------

class ConntrackTables {
public:
  enum class Answer : uint8_t { Found, NoEntry, Failed };

  // The namespace that routes for the others is nettrace's own: it runs in
  // the host's (a node's) namespace, as its DaemonSet does with hostNetwork.
  // (/proc/1/ns/net may not even be open to root, in a sandbox.)
  ConntrackTables() {
    UniqueFd self(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
    if (self) {
      self_ns_ = root_ns_ = inode_of(self.get());
      std::string why;
      if (UniqueFd s = open_in(self.get(), why))
        keep(root_ns_, std::move(s));
    }
  }

  uint32_t root_ns() const { return root_ns_; }

  // The socket for namespace `ns` (0: the one of `pid`), opened on first use.
  // -1 with `why` when it cannot be had.
  int socket_for(uint32_t ns, uint32_t pid, std::string& why) {
    if (ns) {
      auto it = sockets_.find(ns);
      if (it != sockets_.end())
        return it->second.get();
    }
    // A namespace that could not be entered is not searched for again for a
    // second: each search may open every bind mount in kNamespaceDirs.
    const uint64_t now = mono_ns();
    if (ns) {
      auto miss = missed_.find(ns);
      if (miss != missed_.end() && now < miss->second.until_ns) {
        why = miss->second.why;
        return -1;
      }
    }
    UniqueFd nsfd = find_namespace(ns, pid, why);
    if (!nsfd) {
      if (ns) {
        if (missed_.size() >= kMaxMissed)
          missed_.clear();
        missed_[ns] = {now + kRetryNs, why};
      }
      return -1;
    }
    const uint32_t found = inode_of(nsfd.get());
    if (!ns) {
      auto it = sockets_.find(found);
      if (it != sockets_.end())
        return it->second.get();
    }
    UniqueFd s = open_in(nsfd.get(), why);
    if (!s)
      return -1;
    return keep(found, std::move(s));
  }

  // One GET for the TCP tuple src -> dst on socket `fd`.
  Answer get(int fd, const Endpoint& src_in, const Endpoint& dst_in, ConntrackTuples& out,
             std::string& why) {
    const Endpoint src = plain(src_in), dst = plain(dst_in);
    const uint8_t family = src.ip.family == 6 ? AF_INET6 : AF_INET;
    std::unique_ptr<nf_conntrack, void (*)(nf_conntrack*)> ct(nfct_new(), nfct_destroy);
    if (!ct) {
      why = "out of memory";
      return Answer::Failed;
    }
    nfct_set_attr_u8(ct.get(), ATTR_L3PROTO, family);
    if (family == AF_INET) {
      uint32_t a, b;
      std::memcpy(&a, src.ip.bytes.data(), 4);
      std::memcpy(&b, dst.ip.bytes.data(), 4);
      nfct_set_attr_u32(ct.get(), ATTR_IPV4_SRC, a);
      nfct_set_attr_u32(ct.get(), ATTR_IPV4_DST, b);
    } else {
      nfct_set_attr(ct.get(), ATTR_IPV6_SRC, src.ip.bytes.data());
      nfct_set_attr(ct.get(), ATTR_IPV6_DST, dst.ip.bytes.data());
    }
    nfct_set_attr_u8(ct.get(), ATTR_L4PROTO, IPPROTO_TCP);
    nfct_set_attr_u16(ct.get(), ATTR_PORT_SRC, htons(src.port));
    nfct_set_attr_u16(ct.get(), ATTR_PORT_DST, htons(dst.port));

    alignas(nlmsghdr) char buf[MNL_SOCKET_BUFFER_SIZE];
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    const uint32_t seq = ++seq_;
    nlh->nlmsg_seq = seq;
    auto* nfh = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(nfgenmsg)));
    nfh->nfgen_family = family;
    nfh->version = NFNETLINK_V0;
    nfh->res_id = 0;
    if (nfct_nlmsg_build(nlh, ct.get()) < 0) {
      why = "cannot build the conntrack request";
      return Answer::Failed;
    }
    if (::send(fd, nlh, nlh->nlmsg_len, 0) < 0) {
      why = std::string("netlink send: ") + std::strerror(errno);
      return Answer::Failed;
    }
    bool found = false;
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        why = errno == EAGAIN || errno == EWOULDBLOCK
                  ? "no answer from conntrack within " + std::to_string(kAnswerTimeoutMs) + " ms"
                  : std::string("netlink receive: ") + std::strerror(errno);
        return Answer::Failed;
      }
      int left = int(n);
      for (auto* m = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(m, left); m = NLMSG_NEXT(m, left)) {
        if (m->nlmsg_seq != seq)
          continue; // the late answer to a request that timed out
        if (m->nlmsg_type == NLMSG_ERROR) {
          const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(m));
          if (err->error == 0)
            return found ? Answer::Found : Answer::NoEntry; // the ack after the entry
          if (err->error == -ENOENT)
            return Answer::NoEntry;
          why = std::string("conntrack: ") + std::strerror(-err->error);
          return Answer::Failed;
        }
        if ((m->nlmsg_type & 0xff) == IPCTNL_MSG_CT_NEW && !found) {
          std::unique_ptr<nf_conntrack, void (*)(nf_conntrack*)> e(nfct_new(), nfct_destroy);
          if (e && nfct_nlmsg_parse(m, e.get()) >= 0) {
            read_tuples(e.get(), out);
            found = true;
          }
        }
        if (m->nlmsg_type == NLMSG_DONE)
          return found ? Answer::Found : Answer::NoEntry;
      }
    }
  }

private:
  static void read_tuples(const nf_conntrack* e, ConntrackTuples& out) {
    const uint8_t family = nfct_get_attr_u8(e, ATTR_ORIG_L3PROTO);
    auto ep = [&](int ip_attr4, int ip_attr6, int port_attr) {
      Endpoint x;
      if (family == AF_INET6) {
        x.ip.family = 6;
        if (const void* p = nfct_get_attr(e, nf_conntrack_attr(ip_attr6)))
          std::memcpy(x.ip.bytes.data(), p, 16);
      } else {
        x.ip.family = 4;
        const uint32_t a = nfct_get_attr_u32(e, nf_conntrack_attr(ip_attr4));
        std::memcpy(x.ip.bytes.data(), &a, 4);
      }
      x.port = ntohs(nfct_get_attr_u16(e, nf_conntrack_attr(port_attr)));
      return x;
    };
    out.orig_src = ep(ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV6_SRC, ATTR_ORIG_PORT_SRC);
    out.orig_dst = ep(ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST, ATTR_ORIG_PORT_DST);
    out.reply_src = ep(ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC, ATTR_REPL_PORT_SRC);
    out.reply_dst = ep(ATTR_REPL_IPV4_DST, ATTR_REPL_IPV6_DST, ATTR_REPL_PORT_DST);
  }

  // A descriptor of namespace `ns`: through the process (checked to still be
  // in it: the pid may have been reused), else a bind mount that keeps it.
  UniqueFd find_namespace(uint32_t ns, uint32_t pid, std::string& why) {
    if (pid) {
      UniqueFd fd(
          ::open(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC));
      if (fd && (!ns || inode_of(fd.get()) == ns))
        return fd;
      if (!fd && errno == EACCES) {
        why = "no privilege to open the process's network namespace";
        return {};
      }
    }
    if (ns)
      for (const char* dir : kNamespaceDirs) {
        std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir), ::closedir);
        if (!d)
          continue;
        size_t seen = 0;
        while (dirent* ent = ::readdir(d.get())) {
          if (++seen > kMaxDirEntries)
            break;
          if (ent->d_name[0] == '.')
            continue;
          UniqueFd fd(::open((std::string(dir) + "/" + ent->d_name).c_str(), O_RDONLY | O_CLOEXEC));
          if (fd && inode_of(fd.get()) == ns)
            return fd;
        }
      }
    why = "the process left before its network namespace could be entered";
    return {};
  }

  // A netlink socket created inside the namespace of `nsfd` (a socket stays
  // in the namespace it was made in). The thread that enters it ends at once;
  // nettrace's own threads never change namespace.
  UniqueFd open_in(int nsfd, std::string& why) {
    int made = -1, err = 0;
    if (inode_of(nsfd) == self_ns_) {
      made = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
      err = errno;
    } else {
      std::thread t([&] {
        if (::setns(nsfd, CLONE_NEWNET) != 0) {
          err = errno;
          return;
        }
        made = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
        err = errno;
      });
      t.join();
    }
    UniqueFd s(made);
    if (!s) {
      why = err == EPERM
                ? "no privilege to enter the network namespace (after --user, or "
                  "without CAP_SYS_ADMIN)"
                : std::string("cannot open conntrack's netlink socket: ") + std::strerror(err);
      return {};
    }
    timeval tv{0, kAnswerTimeoutMs * 1000};
    ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
  }

  int keep(uint32_t ns, UniqueFd s) {
    if (sockets_.size() >= kMaxNamespaces && !order_.empty()) {
      // The oldest, but never the root namespace's (asked for every record).
      for (auto it = order_.begin(); it != order_.end(); ++it)
        if (*it != root_ns_) {
          sockets_.erase(*it);
          order_.erase(it);
          break;
        }
    }
    order_.push_back(ns);
    UniqueFd& kept = sockets_[ns];
    kept = std::move(s);
    return kept.get();
  }

  uint32_t self_ns_ = 0, root_ns_ = 0;
  uint32_t seq_ = 0;
  std::unordered_map<uint32_t, UniqueFd> sockets_;
  std::deque<uint32_t> order_;
  struct Missed {
    uint64_t until_ns;
    std::string why;
  };
  std::unordered_map<uint32_t, Missed> missed_; // namespaces not to search for again yet
};

// --- the source ---------------------------------------------------------------

NatSource::NatSource(Source& inner, std::function<void(const std::string&)> say) : inner_(inner) {
  const std::string why = conntrack_unavailable_reason();
  if (!why.empty()) {
    if (say)
      say(why);
    return;
  }
  // The kernel checks CAP_NET_ADMIN on every conntrack request, of the
  // thread that sends it: said once here, rather than only counted at exit.
  if (say && !has_effective_capability(CAP_NET_ADMIN))
    say("nettrace: --nat: conntrack lookups need CAP_NET_ADMIN, which this process does not "
        "have (a systemd unit's CapabilityBoundingSet, a container's capabilities): every "
        "lookup will fail; add CAP_NET_ADMIN");
  tables_ = std::make_unique<ConntrackTables>();
}

NatSource::~NatSource() = default;

void NatSource::annotate(Record& r) {
  if (!tables_)
    return;
  const uint64_t t0 = mono_ns();
  ++stats_.lookups;
  if (t0 - window_start_ns_ >= kBudgetWindowNs) {
    window_start_ns_ = t0;
    window_spent_ns_ = 0;
  }
  if (window_spent_ns_ >= kBudgetNs) {
    ++stats_.failed;
    ++stats_.why_failed["lookups had taken half of the last second already (more connections "
                        "than --nat can look up)"];
    return;
  }
  std::string why;
  bool tracked = false, translated = false, failed = false;
  // The socket's own namespace first, then the root namespace (which routes
  // for pods and containers), unless they are one.
  const uint32_t spaces[2] = {r.netns, tables_->root_ns()};
  for (int i = 0; i < 2 && !translated; ++i) {
    if (i == 1 && (spaces[1] == 0 || spaces[1] == spaces[0]))
      break;
    std::string w;
    const int fd = tables_->socket_for(spaces[i], i == 0 ? r.pid : 0, w);
    if (fd < 0) {
      failed = true;
      why = w;
      continue;
    }
    ConntrackTuples e;
    switch (tables_->get(fd, r.local, r.remote, e, w)) {
    case ConntrackTables::Answer::Found: {
      Endpoint nr, nl;
      if (translation_of(e, r.local, r.remote, nr, nl)) {
        tracked = true;
        if (nr.ip.family || nl.ip.family) {
          r.nat_remote = nr;
          r.nat_local = nl;
          translated = true;
        }
      }
      break;
    }
    case ConntrackTables::Answer::NoEntry:
      break;
    case ConntrackTables::Answer::Failed:
      failed = true;
      why = w;
      break;
    }
  }
  // One outcome per record: a translation found anywhere is the answer; a
  // namespace that could not be asked makes "not translated" unknown.
  if (translated)
    ++stats_.translated;
  else if (failed) {
    ++stats_.failed;
    ++stats_.why_failed[why];
  } else if (tracked)
    ++stats_.plain;
  else
    ++stats_.untracked;
  const uint64_t spent = mono_ns() - t0;
  stats_.elapsed_ns += spent;
  window_spent_ns_ += spent;
}

void NatSource::drain(const RecordCallback& cb) {
  inner_.drain([&](const Record& r) { pass(r, cb); });
}

void NatSource::finish(const RecordCallback& cb) {
  inner_.finish([&](const Record& r) { pass(r, cb); });
}

void NatSource::pass(const Record& r, const RecordCallback& cb) {
  if (!tables_ || !kind_info(r.type).connection) {
    cb(r);
    return;
  }
  copy_ = r;
  if (kind_info(r.type).pairs) {
    annotate(copy_);
    if (copy_.has_nat()) {
      // Kept for the connection's close (and open-at-exit) record, which
      // then carries the same translation without asking again.
      if (translated_.size() >= kMaxTranslated)
        translated_.clear(); // bounded: those closes go out without nat fields
      translated_[connection_key(copy_)] = {copy_.nat_remote, copy_.nat_local};
    }
  } else if (!translated_.empty()) {
    auto it = translated_.find(connection_key(copy_));
    if (it != translated_.end()) {
      copy_.nat_remote = it->second.first;
      copy_.nat_local = it->second.second;
      translated_.erase(it);
    }
  }
  cb(copy_);
}

std::string NatSource::summary() const {
  if (!tables_)
    return {};
  const NatStats& s = stats_;
  std::string out = "nettrace: nat: " + std::to_string(s.lookups) +
                    " connection ends looked up: " + std::to_string(s.translated) +
                    " translated, " + std::to_string(s.plain) + " not translated, " +
                    std::to_string(s.untracked) + " not tracked, " + std::to_string(s.failed) +
                    " could not be looked up";
  if (s.lookups) {
    const uint64_t avg = s.elapsed_ns / s.lookups;
    out += "; " + std::to_string(avg / 1000) + "." + std::to_string(avg % 1000 / 100) +
           " us each on average";
  }
  for (const auto& [why, n] : s.why_failed)
    out += "\nnettrace: nat: " + std::to_string(n) + " not looked up: " + why;
  return out;
}

} // namespace nt
