#include "graph/graph.h"

#include <absl/container/flat_hash_map.h>
#include <absl/hash/hash.h>
#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <deque>
#include <iterator>
#include <map>
#include <stdexcept>

#include "trace/format.h"
#include "trace/identity.h"

namespace nt {

bool is_loopback(const IpAddr& ip) {
  if (ip.family == 4)
    return ip.bytes[0] == 127;
  // ::1, compared as two words (a memcmp call here ran on every IPv6 end).
  uint64_t lo, hi;
  std::memcpy(&lo, ip.bytes.data(), 8);
  std::memcpy(&hi, ip.bytes.data() + 8, 8);
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "::1 as a little-endian word");
  return ip.family == 6 && lo == 0 && hi == uint64_t(1) << 56;
}

void append_dot_text(std::string& out, std::string_view s) {
  for (char c : s) {
    if (c == '\\')
      out.push_back('\\');
    out.push_back(c);
  }
}

namespace {

std::string ip_text(const IpAddr& ip) {
  std::string s;
  append_ip(s, ip);
  return s;
}

// An address as its label text tells it apart, in binary: append_ip writes
// IPv4 and IPv4-mapped IPv6 alike and any other family as "?". Nodes keep
// these and turn them into text once, in finish(). Built and compared as two
// words: reading bytes back as words right after writing them one by one
// stalled the CPU (store forwarding), a tenth of add_arrow's time.
struct LabelAddr {
  uint64_t lo = 0, hi = 0; // the address bytes as IpAddr holds them
  uint8_t family = 0;      // 4 (lo's low 4 bytes), 6, or 0 for "?"
  bool operator==(const LabelAddr& o) const {
    return lo == o.lo && hi == o.hi && family == o.family;
  }
  IpAddr ip() const {
    IpAddr a;
    a.family = family;
    std::memcpy(a.bytes.data(), &lo, 8);
    std::memcpy(a.bytes.data() + 8, &hi, 8);
    return a;
  }
};

inline LabelAddr label_addr(const IpAddr& ip) {
  LabelAddr a;
  std::memcpy(&a.lo, ip.bytes.data(), 8);
  std::memcpy(&a.hi, ip.bytes.data() + 8, 8);
  // IPv4-mapped (is_v4_mapped, trace/record.h): bytes 12..15, the upper half
  // of `hi`, hold the IPv4 address.
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "label_addr reads words little-endian");
  if (ip.family == 4) {
    a.lo &= 0xffffffff;
    a.hi = 0;
    a.family = 4;
  } else if (is_v4_mapped(ip)) {
    a.lo = a.hi >> 32;
    a.hi = 0;
    a.family = 4;
  } else if (ip.family == 6) {
    a.family = 6;
  } else {
    a.lo = a.hi = 0;
  }
  return a;
}

// A connection's identity, in binary: client endpoint, server endpoint, and
// for loopback the host and network namespace (two pods both using 127.0.0.1
// are different machines to us). An IPv4 address counts its 4 bytes only.
struct PairKey {
  uint64_t client_lo = 0, client_hi = 0, server_lo = 0, server_hi = 0;
  uint16_t client_port = 0, server_port = 0;
  uint8_t client_family = 0, server_family = 0;
  uint32_t host = 0, netns = 0; // scoped (loopback) keys only
  bool operator==(const PairKey&) const = default;
  template <typename H> friend H AbslHashValue(H h, const PairKey& k) {
    // Two words where the key has six: equal keys hash equal, and keys
    // that differ only where words were folded together are rare (and then
    // only cost a comparison). The odd multiplier keeps client and server
    // apart (a->b and b->a fold differently). Every mixing step counts:
    // each is a multiplication the lookup waits for, once per line.
    constexpr uint64_t kOdd = 0x9e3779b97f4a7c15ull;
    return H::combine(std::move(h), k.client_lo + k.server_lo * kOdd,
                      (k.client_hi ^ k.server_hi ^ (uint64_t(k.host) << 32 | k.netns)) * kOdd +
                          (uint64_t(k.client_port) | uint64_t(k.server_port) << 16 |
                           uint64_t(k.client_family) << 32 | uint64_t(k.server_family) << 40));
  }
  static void put(const Endpoint& ep, uint64_t& lo, uint64_t& hi, uint16_t& port, uint8_t& family) {
    std::memcpy(&lo, ep.ip.bytes.data(), 8);
    std::memcpy(&hi, ep.ip.bytes.data() + 8, 8);
    if (ep.ip.family == 4) {
      lo &= 0xffffffff;
      hi = 0;
    }
    port = ep.port;
    family = ep.ip.family;
  }
  static Endpoint get(uint64_t lo, uint64_t hi, uint16_t port, uint8_t family) {
    Endpoint ep;
    ep.ip.family = family;
    std::memcpy(ep.ip.bytes.data(), &lo, 8);
    std::memcpy(ep.ip.bytes.data() + 8, &hi, 8);
    ep.port = port;
    return ep;
  }
  Endpoint client() const { return get(client_lo, client_hi, client_port, client_family); }
  Endpoint server() const { return get(server_lo, server_hi, server_port, server_family); }
};

// One connection end waiting for its peer.
struct End {
  uint64_t seq;     // arrival number: eviction and the leftovers' order follow it
  size_t node;      // the process that wrote it
  bool ambiguous;   // another process had this key waiting too (see add_end)
  uint32_t via = 0; // NAT: the service address it went through (via_id), 0 none
};

// The ends waiting on one key, all of one direction (an end of the other
// direction pairs with the oldest): the oldest here, the rest (rare: the same
// 4-tuple in two processes at once) in Index::more.
struct Waiting {
  End first;
  uint32_t more = 0; // ends after `first`, oldest first, in Index::more
  bool connect = false;
};

// Debian builds abseil with its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW
// is 0): heterogeneous lookups into a map of std::string take that type.
absl::string_view absl_view(std::string_view s) {
  return {s.data(), s.size()};
}

struct EdgeKey {
  size_t from, to;
  uint16_t port, client_port;
  bool ambiguous;   // (matched needs no place: an unmatched edge has an external end)
  uint32_t via = 0; // NAT: the service address (via_id)
  bool operator==(const EdgeKey&) const = default;
  template <typename H> friend H AbslHashValue(H h, const EdgeKey& k) {
    return H::combine(std::move(h), uint64_t(k.from) << 32 ^ k.to,
                      uint64_t(k.port) | uint64_t(k.client_port) << 16 |
                          uint64_t(k.ambiguous) << 32 | uint64_t(k.via) << 33);
  }
};

// A process node's identity: the host index and a number (pid, or address
// family) in one word, and bytes (name, or address). Looked up without a copy
// through NodeKeyView.
struct NodeKeyView {
  uint64_t head;
  std::string_view bytes;
};
struct NodeKey {
  uint64_t head;
  std::string bytes;
  NodeKeyView view() const { return {head, bytes}; }
};
inline uint64_t load8(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}
inline uint64_t load4(const char* p) {
  uint32_t w;
  std::memcpy(&w, p, 4);
  return w;
}

// The key bytes are short (a process text such as "1234 CMD=curl" is 10 to
// 30 bytes): read as machine words, whole, and handed to absl::Hash as two
// integers. absl's own string hash sends anything past 16 bytes to an
// out-of-line routine and, with its comparison's memcmp call, was a sixth of
// netgraph's instructions per line. Every byte counts: equal keys hash equal,
// and a collision costs only a comparison.
struct NodeKeyHash {
  using is_transparent = void;
  size_t operator()(const NodeKeyView& k) const {
    const char* p = k.bytes.data();
    const size_t n = k.bytes.size();
    uint64_t a = 0, b = 0;
    if (n >= 8) {
      // First and last word (overlapping when n < 16), the words between
      // folded into the first.
      a = load8(p);
      b = load8(p + n - 8);
      for (size_t i = 8; i + 8 < n; i += 8)
        a = (a ^ load8(p + i)) * 0x9e3779b97f4a7c15ull;
    } else if (n >= 4) {
      a = load4(p);
      b = load4(p + n - 4);
    } else if (n > 0) {
      a = uint64_t(uint8_t(p[0])) | uint64_t(uint8_t(p[n / 2])) << 8 |
          uint64_t(uint8_t(p[n - 1])) << 16;
    }
    // Two words for absl to mix (each mix is a multiplication the lookup
    // waits for): the head and length folded into the first by an odd
    // multiplier, so that they still change every bit above them.
    return absl::HashOf(a + (k.head ^ n) * 0x9e3779b97f4a7c15ull, b);
  }
  size_t operator()(const NodeKey& k) const { return (*this)(k.view()); }
};
struct NodeKeyEq {
  using is_transparent = void;
  static bool eq(const NodeKeyView& a, const NodeKeyView& b) {
    const size_t n = a.bytes.size();
    if (a.head != b.head || n != b.bytes.size())
      return false;
    const char *p = a.bytes.data(), *q = b.bytes.data();
    // 8 to 24 bytes (most process texts): words, no call.
    if (n >= 8 && n <= 24)
      return load8(p) == load8(q) && load8(p + n - 8) == load8(q + n - 8) &&
             (n <= 16 || load8(p + 8) == load8(q + 8));
    return n == 0 || std::memcmp(p, q, n) == 0; // (no memcmp of a null pointer)
  }
  bool operator()(const NodeKey& a, const NodeKey& b) const { return eq(a.view(), b.view()); }
  bool operator()(const NodeKey& a, const NodeKeyView& b) const { return eq(a.view(), b); }
  bool operator()(const NodeKeyView& a, const NodeKey& b) const { return eq(a, b.view()); }
};

std::unique_ptr<re2::RE2> compile(const std::string& pattern, const char* flag) {
  if (pattern.empty())
    return nullptr;
  re2::RE2::Options o;
  o.set_log_errors(false);
  auto re = std::make_unique<re2::RE2>(pattern, o);
  if (!re->ok())
    throw std::invalid_argument(std::string(flag) + " '" + pattern + "': " + re->error());
  return re;
}

} // namespace

// Everything add() looks up: abseil's flat hash maps, keyed in binary, so
// that a record whose host, process and edge are already known allocates
// nothing. Nodes and edges live in graph_'s vectors in the order they were
// first seen; the maps only find them.
struct GraphBuilder::Index {
  // Host names in graph_.hosts order. The input's host is the same for a whole
  // file: the last one is remembered and checked first.
  absl::flat_hash_map<std::string, uint32_t> hosts;
  std::string last_host;
  uint32_t last_host_index = UINT32_MAX;
  // Process nodes by host index + what --group-by groups on (see process_node),
  // external nodes by their address text.
  absl::flat_hash_map<NodeKey, size_t, NodeKeyHash, NodeKeyEq> nodes;
  absl::flat_hash_map<std::string, size_t> externals;
  // add_arrow's index of process nodes by host and the text after "|PID="
  // ("1234 CMD=curl"): with --group-by pid, comm or host, one text always
  // means one node, so a line whose text was seen before needs no reading of
  // its pid and name, and no second lookup.
  absl::flat_hash_map<NodeKey, size_t, NodeKeyHash, NodeKeyEq> by_text;
  // Edges out of each node: a node's first few in a short list (a process
  // talks to a few peers, and scanning four or five edges is cheaper than a
  // hash lookup), and once it has more than fit, all of its edges in `edges`
  // (a client of many servers, or --per-connection), so no scan grows with
  // the graph.
  struct Out {
    static constexpr uint32_t kShort = 6;
    uint32_t n = 0; // edges in `e`; kShort + 1 once the node's edges are in the map
    uint32_t e[kShort];
  };
  std::vector<Out> out;
  absl::flat_hash_map<EdgeKey, size_t> edges;
  // Per node: the local addresses its label lists, at most 4.
  struct Addrs {
    uint8_t n = 0;
    std::array<LabelAddr, 4> a;
    // Most processes use one address: the first is checked here, inline,
    // before the rest (once per line).
    [[gnu::always_inline]] void note(const LabelAddr& local) {
      if (n > 0 && a[0] == local)
        return;
      note_more(local);
    }
    [[gnu::noinline]] void note_more(const LabelAddr& local) {
      if (n < 4 && std::find(a.begin(), a.begin() + n, local) == a.begin() + n)
        a[n++] = local;
    }
  };
  std::vector<Addrs> addrs;
  // Connection ends waiting for their peer, both directions in one map. A key
  // is erased as soon as its last end pairs.
  absl::flat_hash_map<PairKey, Waiting> pending;
  absl::flat_hash_map<PairKey, std::deque<End>> more; // see Waiting
  size_t waiting[2] = {0, 0};                         // ends waiting: [0] accepts, [1] connects
  // Close and open records waiting for the other end's (add_life).
  struct LifeEnd {
    size_t node;
    size_t last_node; // the process that held the socket last (closed it), or node
    bool connect, open;
    uint64_t received, sent, duration_ns; // payload bytes this end received and sent
    uint32_t via = 0; // NAT (issue 16): the service address it went through (via_id)
  };
  absl::flat_hash_map<PairKey, LifeEnd> lives;
  std::string comm; // reused: add_arrow's process name when it holds an escape
  std::string key;  // reused: a process key with its start time
  // GroupBy::Pid: the newest node of each (host, pid), for a close's last_pid,
  // whose start time the record does not carry.
  absl::flat_hash_map<uint64_t, size_t> by_pid;
  std::string text; // reused: external node names
  // NAT (issue 16): service addresses by id (0: none), and the connection end
  // added last, which a "# nat" marker line that follows it applies to.
  absl::flat_hash_map<std::string, uint32_t> via_ids;
  std::vector<std::string> via_texts{std::string()};
  PairKey last_key;
  uint64_t last_seq = UINT64_MAX;
  // Tuples as a client saw them -> the accept's tuple and service (accept_nat).
  struct Alias {
    PairKey key;
    uint32_t via;
  };
  absl::flat_hash_map<PairKey, Alias> nat_alias;
  PairKey last_life_key; // the close or open record added last (a "# nat" after it)
  bool last_life = false;
  // add_life()'s pairing of a life with the other end's, once its key is known.
  void add_life_end(GraphBuilder& b, const PairKey& key, const LifeEnd& end);
  uint32_t nat_host = 0;
};

GraphBuilder::GraphBuilder(GraphOptions options)
    : options_(std::move(options)), include_(compile(options_.include, "--include")),
      exclude_(compile(options_.exclude, "--exclude")), index_(std::make_unique<Index>()) {}

GraphBuilder::~GraphBuilder() = default;

uint32_t GraphBuilder::host_index(std::string_view host) {
  Index& x = *index_;
  if (x.last_host_index != UINT32_MAX && host == x.last_host)
    return x.last_host_index;
  auto [it, inserted] = x.hosts.try_emplace(absl_view(host), uint32_t(graph_.hosts.size()));
  if (inserted)
    graph_.hosts.emplace_back(host);
  x.last_host.assign(host);
  x.last_host_index = it->second;
  return it->second;
}

namespace {

// The identity field a --group-by groups on, or null.
const std::string* grouped_field(GroupBy g, const Record& r) {
  switch (g) {
  case GroupBy::Exe:
    return &r.exe;
  case GroupBy::Container:
    return &r.container;
  case GroupBy::Pod:
    return &r.pod;
  case GroupBy::Unit:
    return &r.unit;
  case GroupBy::Cgroup:
    return &r.cgroup;
  default:
    return nullptr;
  }
}

std::string_view group_word(GroupBy g) {
  switch (g) {
  case GroupBy::Exe:
    return "exe";
  case GroupBy::Container:
    return "container";
  case GroupBy::Pod:
    return "pod";
  case GroupBy::Unit:
    return "unit";
  default:
    return "cgroup";
  }
}

// The name a person knows the process by: comm, or the exe's file name when
// comm is the kernel's 15-byte cut of it ("kube-controller" for
// kube-controller-manager).
std::string_view best_name(std::string_view comm, std::string_view exe) {
  if (comm.size() < 15 || exe.empty())
    return comm;
  const size_t slash = exe.rfind('/');
  std::string_view base = slash == std::string_view::npos ? exe : exe.substr(slash + 1);
  if (base.ends_with(" (deleted)")) // the kernel's mark on a replaced binary
    base.remove_suffix(10);
  return base.size() > comm.size() && base.starts_with(comm) ? base : comm;
}

} // namespace

size_t GraphBuilder::process_node(uint32_t host, uint32_t pid, std::string_view comm,
                                  const IpAddr& local_ip, const Record* r) {
  Index& x = *index_;
  const LabelAddr local = label_addr(local_ip);
  // The process start, in /proc's ticks: what the kernel and the snapshot's
  // /proc reading agree on (trace/identity.h).
  const uint64_t start = r && options_.group_by == GroupBy::Pid ? start_ticks_of(r->start_ns) : 0;
  // What the node groups on besides the host: a number and some bytes.
  uint32_t num = 0;
  std::string_view bytes;
  switch (options_.group_by) {
  case GroupBy::Pid:
  case GroupBy::Service: // processes, as with pid
    num = pid;
    bytes = comm;
    if (start) {
      // Name, NUL, start: a reused pid is another process.
      x.key.assign(comm);
      x.key.push_back('\0');
      x.key.append(reinterpret_cast<const char*>(&start), sizeof start);
      bytes = x.key;
    }
    break;
  case GroupBy::Exe:
  case GroupBy::Container:
  case GroupBy::Pod:
  case GroupBy::Unit:
  case GroupBy::Cgroup:
    if (r)
      bytes = *grouped_field(options_.group_by, *r);
    break;
  case GroupBy::Comm:
    bytes = comm;
    break;
  case GroupBy::Host:
    break;
  case GroupBy::Address:
    num = local.family;
    static_assert(offsetof(LabelAddr, hi) == offsetof(LabelAddr, lo) + 8,
                  "lo and hi are the 16 address bytes");
    bytes = {reinterpret_cast<const char*>(&local.lo), 16};
    break;
  }
  // The map's key: host index, number, bytes. The raw name stands for the
  // escaped one (escaping is one to one) and the binary address for its text
  // (label_addr).
  const NodeKeyView key{uint64_t(host) << 32 | num, bytes};
  auto it = x.nodes.find(key);
  if (it == x.nodes.end()) {
    // Node::key keeps the text form it has always had (host, NUL, pid, NUL,
    // name); labels take the pid from Node::pid, since a host name may hold
    // a NUL itself.
    const std::string& host_name = graph_.hosts[host];
    Node n;
    n.key = host_name;
    n.key.push_back('\0');
    append_escaped_comm(n.name, comm);
    switch (options_.group_by) {
    case GroupBy::Pid:
    case GroupBy::Service: // processes, as with pid
      n.key += std::to_string(pid);
      n.key.push_back('\0');
      n.key += n.name;
      n.pid = pid;
      if (start) {
        n.key.push_back('\0');
        n.key += std::to_string(start);
        n.start_ns = r->start_ns;
      }
      if (r) {
        n.name.clear();
        append_escaped_comm(n.name, best_name(comm, r->exe));
        append_escaped_comm(n.container, r->container.substr(0, 12));
        append_escaped_comm(n.unit, r->unit);
      }
      x.by_pid[uint64_t(host) << 32 | pid] = graph_.nodes.size();
      break;
    case GroupBy::Exe:
    case GroupBy::Container:
    case GroupBy::Pod:
    case GroupBy::Unit:
    case GroupBy::Cgroup:
      n.name.clear();
      if (bytes.empty()) {
        n.name = "no ";
        n.name += group_word(options_.group_by);
      } else {
        append_escaped_comm(n.name, bytes);
      }
      n.key += n.name;
      break;
    case GroupBy::Comm:
      n.key += n.name;
      break;
    case GroupBy::Host:
      break;
    case GroupBy::Address:
      n.key += ip_text(local_ip);
      break;
    }
    n.host = host_name;
    it = x.nodes.emplace(NodeKey{key.head, std::string(bytes)}, graph_.nodes.size()).first;
    graph_.nodes.push_back(std::move(n));
    x.addrs.resize(graph_.nodes.size());
    x.out.resize(graph_.nodes.size());
  }
  // Remembers the local addresses a node uses, for its label (a process may
  // have several: loopback and an interface, or IPv4 and IPv6).
  x.addrs[it->second].note(local);
  return it->second;
}

size_t GraphBuilder::external_node(std::string_view key) {
  auto [it, inserted] = index_->externals.try_emplace(absl_view(key), graph_.nodes.size());
  if (inserted) {
    Node n;
    n.key = "\x01";
    n.key += key;
    n.name = key;
    append_dot_text(n.label, key);
    n.external = true;
    graph_.nodes.push_back(std::move(n));
    index_->addrs.resize(graph_.nodes.size());
    index_->out.resize(graph_.nodes.size());
  }
  return it->second;
}

void GraphBuilder::add_edge(size_t from, size_t to, uint16_t port, uint16_t client_port,
                            bool matched, bool ambiguous, uint32_t via) {
  if (!options_.per_connection)
    client_port = 0;
  Index& x = *index_;
  Index::Out& out = x.out[from];
  std::vector<Edge>& edges = graph_.edges;
  auto made = [&](uint64_t count) {
    edges.push_back(Edge{from, to, port, client_port, count, matched, ambiguous});
    if (via) {
      edges.back().via = x.via_texts[via];
      edges.back().via_id = via;
    }
  };
  if (out.n <= Index::Out::kShort) {
    for (uint32_t i = 0; i < out.n; ++i) {
      Edge& e = edges[out.e[i]];
      // What EdgeKey holds besides `from` (matched needs no place: an
      // unmatched edge has an external end).
      if (e.to == to && e.port == port && e.client_port == client_port &&
          e.ambiguous == ambiguous && e.via_id == via) {
        ++e.count;
        return;
      }
    }
    const uint32_t added = uint32_t(edges.size());
    made(1);
    if (out.n < Index::Out::kShort) {
      out.e[out.n++] = added;
      return;
    }
    // One edge too many for the list: from now on this node's edges are
    // found in the map.
    for (uint32_t i = 0; i < out.n; ++i) {
      const Edge& e = edges[out.e[i]];
      x.edges.emplace(EdgeKey{e.from, e.to, e.port, e.client_port, e.ambiguous, e.via_id},
                      out.e[i]);
    }
    x.edges.emplace(EdgeKey{from, to, port, client_port, ambiguous, via}, added);
    out.n = Index::Out::kShort + 1;
    return;
  }
  auto [it, inserted] =
      x.edges.try_emplace(EdgeKey{from, to, port, client_port, ambiguous, via}, edges.size());
  if (inserted)
    made(0);
  ++edges[it->second].count;
}

uint32_t GraphBuilder::via_id(const Endpoint& service) {
  Index& x = *index_;
  std::string& text = x.text;
  text.clear();
  append_endpoint(text, service);
  auto [it, inserted] = x.via_ids.try_emplace(text, uint32_t(x.via_texts.size()));
  if (inserted)
    x.via_texts.push_back(text);
  return it->second;
}

// A "# nat" marker: the translation of the connection end added just before
// it (an arrow line). A connect still waiting moves to the key its server
// sees (and may pair there); an accept keeps its key and learns the service
// address it was reached through. A marker after anything else, or after an
// end that already paired, changes nothing.
void GraphBuilder::add_nat(const Record& r) {
  Index& x = *index_;
  if (x.last_life) {
    // After a close or open line: its life moves to the tuple its server
    // sees, as add_life() does for JSON, if it is still waiting for the
    // other end's.
    x.last_life = false;
    auto it = x.lives.find(x.last_life_key);
    if (it == x.lives.end() || !it->second.connect || !r.nat_remote.ip.family)
      return;
    Index::LifeEnd end = it->second;
    const PairKey old = it->first;
    x.lives.erase(it);
    end.via = via_id(old.server());
    Endpoint client = old.client();
    if (r.nat_local.ip.family)
      client = r.nat_local;
    PairKey key;
    PairKey::put(client, key.client_lo, key.client_hi, key.client_port, key.client_family);
    PairKey::put(r.nat_remote, key.server_lo, key.server_hi, key.server_port, key.server_family);
    x.add_life_end(*this, key, end);
    return;
  }
  if (x.last_seq == UINT64_MAX)
    return;
  const PairKey key = x.last_key;
  const uint64_t seq = x.last_seq;
  x.last_seq = UINT64_MAX;
  auto it = x.pending.find(key);
  if (it == x.pending.end() || it->second.more != 0 || it->second.first.seq != seq)
    return;
  Waiting& w = it->second;
  const bool connect = w.connect;
  const Endpoint client = key.client(), server = key.server();
  if (!connect) {
    const uint32_t via = r.nat_local.ip.family ? via_id(r.nat_local) : 0;
    w.first.via = via;
    accept_nat(client, server, key.netns, r.nat_remote.ip.family ? r.nat_remote : client,
               r.nat_local.ip.family ? r.nat_local : server, via, x.nat_host);
    return;
  }
  const End end = w.first;
  x.pending.erase(it);
  --x.waiting[1];
  add_end(true, r.nat_local.ip.family ? r.nat_local : client,
          r.nat_remote.ip.family ? r.nat_remote : server, key.netns, x.nat_host, end.node,
          r.nat_remote.ip.family ? via_id(server) : 0);
}

// An accept that knows its translation (the server's host did the NAT) while
// the client's record may not (its host was traced without --nat, or saw no
// NAT): a connect waiting on the tuple the client saw moves to the accept's
// and pairs now; otherwise a connect that comes later on that tuple is sent
// to the accept's (nat_alias, in add_end).
void GraphBuilder::accept_nat(const Endpoint& server_client, const Endpoint& server_server,
                              uint32_t netns, const Endpoint& client, const Endpoint& server,
                              uint32_t via, uint32_t host) {
  Index& x = *index_;
  auto key_of = [&](const Endpoint& c, const Endpoint& s) {
    PairKey k;
    PairKey::put(c, k.client_lo, k.client_hi, k.client_port, k.client_family);
    PairKey::put(s, k.server_lo, k.server_hi, k.server_port, k.server_family);
    if (is_loopback(s.ip)) {
      k.host = host;
      k.netns = netns;
    }
    return k;
  };
  const PairKey server_key = key_of(server_client, server_server);
  const PairKey key = key_of(client, server);
  if (key == server_key)
    return;
  auto it = x.pending.find(key);
  if (it != x.pending.end() && it->second.connect && it->second.more == 0) {
    const End end = it->second.first;
    x.pending.erase(it);
    --x.waiting[1];
    add_end(true, server_client, server_server, netns, host, end.node, via);
    return;
  }
  if (x.nat_alias.size() >= options_.max_pending)
    x.nat_alias.clear(); // bounded: the oldest aliases are the likeliest stale
  x.nat_alias[key] = {server_key, via};
}

void GraphBuilder::flush(bool connect, const Endpoint& client, const Endpoint& server, size_t node,
                         uint32_t via) {
  std::string& text = index_->text;
  text.clear();
  if (connect) {
    ++graph_.stats.unmatched_connects;
    append_endpoint(text, server);
    add_edge(node, external_node(text), server.port, client.port, false, false, via);
  } else {
    ++graph_.stats.unmatched_accepts;
    append_ip(text, client.ip);
    add_edge(external_node(text), node, server.port, client.port, false, false, via);
  }
}

void GraphBuilder::add(const Record& r, std::string_view input_host) {
  add(r, r.host.empty() ? host_index(input_host) : UINT32_MAX);
}

void GraphBuilder::add(const Record& r, uint32_t input_host) {
  const uint32_t host = r.host.empty() ? input_host : host_index(r.host);
  if (r.time_ns) { // for the picture's title (present.cpp)
    GraphStats& st = graph_.stats;
    st.first_ns = st.first_ns ? std::min(st.first_ns, r.time_ns) : r.time_ns;
    st.last_ns = std::max(st.last_ns, r.time_ns);
  }
  const KindInfo& k = kind_info(r.type);
  if (r.type != RecordType::Nat)
    index_->last_life = false; // a "# nat" line applies to the line right before it only
  if (k.side == Side::FromRecord) {
    index_->last_seq = UINT64_MAX; // a "# nat" line after it is not a connection end's
    add_life(r, host);
    return;
  }
  if (k.pairs) {
    const bool connect = record_side(k, r) == Side::Out;
    if (!r.has_nat()) {
      add_event(connect, r.local, r.remote, r.netns, host, r.pid, r.comm, &r);
      return;
    }
    // NAT (issue 16): a connect pairs on the tuple its server sees (the
    // accept's own); an accept keeps its tuple and names the service address
    // its client asked for. Either edge says which service it went through.
    ++(connect ? graph_.stats.connects : graph_.stats.accepts);
    ++graph_.stats.events;
    if (options_.no_loopback && is_loopback(r.remote.ip))
      return;
    const size_t node = process_node(host, r.pid, r.comm, r.local.ip, &r);
    if (connect)
      add_end(true, r.nat_local.ip.family ? r.nat_local : r.local,
              r.nat_remote.ip.family ? r.nat_remote : r.remote, r.netns, host, node,
              r.nat_remote.ip.family ? via_id(r.remote) : 0);
    else {
      const uint32_t via = r.nat_local.ip.family ? via_id(r.nat_local) : 0;
      add_end(false, r.local, r.remote, r.netns, host, node, via);
      if (index_->last_seq != UINT64_MAX) { // still waiting: maybe its client saw no NAT
        index_->last_seq = UINT64_MAX;      // (a "# nat" line cannot follow JSON)
        accept_nat(r.remote, r.local, r.netns, r.nat_remote.ip.family ? r.nat_remote : r.remote,
                   r.nat_local.ip.family ? r.nat_local : r.local, via, host);
      }
    }
    return;
  }
  if (r.type == RecordType::Nat) {
    add_nat(r);
    return;
  }
  // Not a connection end: what the graph's notes count.
  index_->last_seq = UINT64_MAX;
  graph_.stats.lost += r.lost;
  if (r.type == RecordType::Failed)
    ++graph_.stats.failed;
}

bool GraphBuilder::add_arrow(const ArrowView& v, uint32_t host) {
  Index& x = *index_;
  x.last_life = false; // a "# nat" line after this one is this connection end's
  const bool connect = v.type == RecordType::Connect;
  // A process text seen before on this host: its node, without reading the
  // pid and name again. Not with --group-by address, where the node follows
  // the local address, not the text.
  const bool by_text = options_.group_by != GroupBy::Address;
  if (by_text) {
    auto it = x.by_text.find(NodeKeyView{host, v.tail});
    if (it != x.by_text.end()) {
      // What add_event() does, with process_node()'s lookup already done.
      ++(connect ? graph_.stats.connects : graph_.stats.accepts);
      ++graph_.stats.events;
      if (options_.no_loopback && is_loopback(v.remote.ip))
        return true;
      x.addrs[it->second].note(label_addr(v.local.ip));
      add_end(connect, v.local, v.remote, 0, host, it->second);
      return true;
    }
  }
  // First time for this text: read it as parse_arrow_tail does, without
  // copying a name that holds no escape (almost every name): digits,
  // " CMD=", the name to the end.
  const std::string_view t = v.tail;
  size_t digits = 0;
  uint32_t pid = 0;
  while (digits < t.size() && digits < 10 && unsigned(t[digits] - '0') <= 9)
    pid = pid * 10 + uint32_t(t[digits++] - '0');
  std::string_view comm;
  if (digits > 0 && digits < 10 && t.size() - digits >= 5 &&
      std::memcmp(t.data() + digits, " CMD=", 5) == 0 &&
      std::memchr(t.data() + digits + 5, '\\', t.size() - digits - 5) == nullptr) {
    comm = t.substr(digits + 5);
  } else {
    // Long pids (overflow is checked there), escapes, or not the plain form.
    if (!parse_arrow_tail(t, pid, x.comm))
      return false; // nothing added: the caller goes the general way
    comm = x.comm;
  }
  ++(connect ? graph_.stats.connects : graph_.stats.accepts);
  ++graph_.stats.events;
  if (options_.no_loopback && is_loopback(v.remote.ip))
    return true;
  const size_t node = process_node(host, pid, comm, v.local.ip);
  if (by_text)
    x.by_text.emplace(NodeKey{host, std::string(t)}, node);
  add_end(connect, v.local, v.remote, 0, host, node);
  return true;
}

void GraphBuilder::add_event(bool connect, const Endpoint& local, const Endpoint& remote,
                             uint32_t netns, uint32_t host, uint32_t pid, std::string_view comm,
                             const Record* r) {
  ++(connect ? graph_.stats.connects : graph_.stats.accepts);
  ++graph_.stats.events;
  if (options_.no_loopback && is_loopback(remote.ip))
    return;
  add_end(connect, local, remote, netns, host, process_node(host, pid, comm, local.ip, r));
}

void GraphBuilder::add_end(bool connect, const Endpoint& local, const Endpoint& remote,
                           uint32_t netns, uint32_t host, size_t node, uint32_t via) {
  const Endpoint& client_end = connect ? local : remote;
  const Endpoint& server_end = connect ? remote : local;
  PairKey key;
  PairKey::put(client_end, key.client_lo, key.client_hi, key.client_port, key.client_family);
  PairKey::put(server_end, key.server_lo, key.server_hi, key.server_port, key.server_family);
  if (is_loopback(server_end.ip)) {
    key.host = host;
    key.netns = netns;
  }
  Index& x = *index_;
  if (connect && !x.nat_alias.empty()) [[unlikely]] {
    // A connect on a tuple an accept's translation named: it pairs there.
    auto a = x.nat_alias.find(key);
    if (a != x.nat_alias.end()) {
      const Index::Alias to = a->second;
      x.nat_alias.erase(a);
      add_end(true, to.key.client(), to.key.server(), to.key.netns, host, node, to.via);
      return;
    }
  }
  const uint64_t seq = seq_++;
  // The end a "# nat" line right after this one would apply to (add_nat).
  x.last_key = key;
  x.last_seq = seq;
  x.nat_host = host;
  auto [it, inserted] = x.pending.try_emplace(key);
  Waiting& w = it->second;
  if (inserted) {
    w.first = {seq, node, false, via};
    w.connect = connect;
  } else if (w.connect != connect) {
    // The peer: the oldest end waiting on this key (first in, first out, so
    // that two connections of one 4-tuple in flight at once pair in the
    // order they came).
    const End peer = w.first;
    --x.waiting[!connect];
    if (w.more == 0) {
      x.pending.erase(it);
    } else {
      auto m = x.more.find(key);
      w.first = m->second.front();
      m->second.pop_front();
      if (--w.more == 0)
        x.more.erase(m);
    }
    ++graph_.stats.matched;
    graph_.stats.ambiguous += peer.ambiguous;
    x.last_seq = UINT64_MAX; // paired: a "# nat" line after it changes nothing
    add_edge(connect ? node : peer.node, connect ? peer.node : node, server_end.port,
             client_end.port, true, peer.ambiguous, via ? via : peer.via);
    return;
  } else if (w.more == 0 && w.first.node == node) {
    // The same 4-tuple again from the same process before its peer showed
    // up: the earlier one can no longer pair (the port was reused), so it
    // goes out as unmatched and the new one waits in its place.
    flush(connect, client_end, server_end, node, w.first.via);
    w.first.seq = seq;
    w.first.via = via;
    return;
  } else {
    // The same 4-tuple waiting in another process: two connections the
    // trace cannot tell apart (two network namespaces seen through arrow
    // lines, which carry no namespace). They pair first in, first out, and
    // every pair made from them is marked ambiguous rather than drawn as
    // sure.
    std::deque<End>& q = x.more[key];
    w.first.ambiguous = true;
    for (End& e : q)
      e.ambiguous = true;
    q.push_back({seq, node, true, via});
    ++w.more;
  }
  if (++x.waiting[connect] > options_.max_pending)
    evict_oldest(connect);
}

// Drops the older half of one direction's waiting ends as unmatched, oldest
// first. Amortised O(1) per record: it runs once per max_pending/2 ends.
void GraphBuilder::evict_oldest(bool connects) {
  Index& x = *index_;
  std::vector<uint64_t> seqs;
  seqs.reserve(x.waiting[connects]);
  for (const auto& [key, w] : x.pending)
    if (w.connect == connects)
      seqs.push_back(w.first.seq);
  for (const auto& [key, q] : x.more)
    if (x.pending.find(key)->second.connect == connects)
      for (const End& e : q)
        seqs.push_back(e.seq);
  auto mid = seqs.begin() + ptrdiff_t(seqs.size() / 2);
  std::nth_element(seqs.begin(), mid, seqs.end());
  const uint64_t cutoff = *mid;
  struct Old {
    End end;
    PairKey key;
  };
  std::vector<Old> old;
  for (auto it = x.pending.begin(); it != x.pending.end();) {
    Waiting& w = it->second;
    // Oldest first within a key: the evicted ones are a prefix.
    while (w.connect == connects && w.first.seq < cutoff) {
      old.push_back({w.first, it->first});
      --x.waiting[connects];
      if (w.more == 0)
        break;
      auto m = x.more.find(it->first);
      w.first = m->second.front();
      m->second.pop_front();
      if (--w.more == 0)
        x.more.erase(m);
    }
    if (w.connect == connects && w.first.seq < cutoff)
      x.pending.erase(it++);
    else
      ++it;
  }
  std::sort(old.begin(), old.end(),
            [](const Old& a, const Old& b) { return a.end.seq < b.end.seq; });
  for (const Old& o : old) {
    flush(connects, o.key.client(), o.key.server(), o.end.node, o.end.via);
    ++graph_.stats.evicted;
  }
}

Edge* GraphBuilder::find_edge(size_t from, size_t to, uint16_t port, uint16_t client_port,
                              bool ambiguous, uint32_t via) {
  if (!options_.per_connection)
    client_port = 0;
  const Index& x = *index_;
  if (from >= x.out.size())
    return nullptr;
  const Index::Out& out = x.out[from];
  if (out.n <= Index::Out::kShort) {
    for (uint32_t i = 0; i < out.n; ++i) {
      Edge& e = graph_.edges[out.e[i]];
      if (e.to == to && e.port == port && e.client_port == client_port &&
          e.ambiguous == ambiguous && e.via_id == via)
        return &e;
    }
    return nullptr;
  }
  auto it = x.edges.find(EdgeKey{from, to, port, client_port, ambiguous, via});
  return it == x.edges.end() ? nullptr : &graph_.edges[it->second];
}

void GraphBuilder::add_life(const Record& r, uint32_t host) {
  ++graph_.stats.lives;
  const Side side = side_of(r);
  if (side == Side::None || (options_.no_loopback && is_loopback(r.remote.ip))) {
    graph_.stats.lives_unattributed += side == Side::None;
    return;
  }
  const bool connect = side == Side::Out;
  // NAT (issue 16): a translated connect's life pairs on the tuple its server
  // sees, as its connect did.
  const Endpoint& client_end = connect ? (r.nat_local.ip.family ? r.nat_local : r.local) : r.remote;
  const Endpoint& server_end =
      connect ? (r.nat_remote.ip.family ? r.nat_remote : r.remote) : r.local;
  const uint32_t via = connect ? (r.nat_remote.ip.family ? via_id(r.remote) : 0)
                               : (r.nat_local.ip.family ? via_id(r.nat_local) : 0);
  PairKey key;
  PairKey::put(client_end, key.client_lo, key.client_hi, key.client_port, key.client_family);
  PairKey::put(server_end, key.server_lo, key.server_hi, key.server_port, key.server_family);
  if (is_loopback(server_end.ip)) {
    key.host = host;
    key.netns = r.netns;
  }
  const size_t node = process_node(host, r.pid, r.comm, r.local.ip, &r);
  // Another process closed it (a forking server's worker, a receiver of
  // SCM_RIGHTS): that one talked to the peer. Its start time is not in the
  // record: the newest node of that pid, if there is one.
  size_t last_node = node;
  if (r.last_pid && r.last_pid != r.pid && !r.last_comm.empty()) {
    const auto seen = index_->by_pid.find(uint64_t(host) << 32 | r.last_pid);
    last_node = options_.group_by == GroupBy::Pid && r.start_ns && seen != index_->by_pid.end()
                    ? seen->second
                    : process_node(host, r.last_pid, r.last_comm, r.local.ip);
  }
  const Index::LifeEnd end{
      node,         last_node,     connect, r.type == RecordType::Open, r.bytes_received,
      r.bytes_sent, r.duration_ns, via};
  Index& x = *index_;
  x.last_life_key = key; // what a "# nat" line right after it applies to
  x.last_life = true;
  x.add_life_end(*this, key, end);
}

// (A member of Index, which knows PairKey, with the builder's access.)
void GraphBuilder::Index::add_life_end(GraphBuilder& b, const PairKey& key, const LifeEnd& end) {
  Index& x = *this;
  const bool connect = end.connect;
  const Endpoint client_end = key.client(), server_end = key.server();
  auto [it, inserted] = x.lives.try_emplace(key, end);
  if (inserted)
    return;
  if (it->second.connect == connect) { // the same end again: the newer one counts
    it->second = end;
    return;
  }
  const Index::LifeEnd peer = it->second;
  x.lives.erase(it);
  const Index::LifeEnd& client = connect ? end : peer;
  const Index::LifeEnd& server = connect ? peer : end;
  const uint32_t via = client.via ? client.via : server.via;
  Edge* e = b.find_edge(client.node, server.node, server_end.port, client_end.port, false, via);
  if (!e)
    e = b.find_edge(client.node, server.node, server_end.port, client_end.port, true, via);
  if (!e) {
    b.graph_.stats.lives_unattributed += 2;
    return;
  }
  if (client.last_node != client.node || server.last_node != server.node) {
    // The connection moves to the processes that really talked: its edge
    // from the connecting to the accepting process loses it (an edge left
    // with none is dropped at the end), the edge between the last holders
    // gains it.
    const bool ambiguous = e->ambiguous;
    --e->count;
    b.add_edge(client.last_node, server.last_node, server_end.port, client_end.port, true,
               ambiguous, via);
    e = b.find_edge(client.last_node, server.last_node, server_end.port, client_end.port, ambiguous,
                    via);
    ++b.graph_.stats.moved_to_closer;
  }
  // Each end's received bytes: payload that arrived, retransmissions not
  // counted twice.
  ++(client.open || server.open ? e->still_open : e->closed);
  e->bytes_to_server += server.received;
  e->bytes_to_client += client.received;
  e->durations_ns.push_back(std::max(client.duration_ns, server.duration_ns));
}

Graph GraphBuilder::finish() {
  // Ends still waiting go out as unmatched in the order they came (their
  // sequence numbers), so the output order is the input's, whatever order the
  // map keeps.
  Index& x = *index_;
  struct Left {
    uint64_t seq;
    size_t node;
    bool connect;
    const PairKey* key;
    uint32_t via;
  };
  std::vector<Left> left;
  left.reserve(x.waiting[0] + x.waiting[1]);
  for (const auto& [key, w] : x.pending) {
    left.push_back({w.first.seq, w.first.node, w.connect, &key, w.first.via});
    if (w.more > 0)
      for (const End& e : x.more.find(key)->second)
        left.push_back({e.seq, e.node, w.connect, &key, e.via});
  }
  std::sort(left.begin(), left.end(), [](const Left& a, const Left& b) { return a.seq < b.seq; });
  for (const Left& l : left)
    flush(l.connect, l.key->client(), l.key->server(), l.node, l.via);
  x.pending.clear();
  x.more.clear();
  x.waiting[0] = x.waiting[1] = 0;
  // Lives whose other end's record never came (that end closed after the
  // trace ended, or was not traced): counted on their connection's edge, the
  // one edge of this process and port (with the client port, per
  // connection) if there is exactly one, matched or to the outside.
  if (!x.lives.empty()) {
    // (node, port, client port, is the client) -> edge, or SIZE_MAX if several.
    std::map<std::tuple<size_t, uint16_t, uint16_t, bool>, size_t> by_end;
    for (size_t i = 0; i < graph_.edges.size(); ++i) {
      const Edge& e = graph_.edges[i];
      for (bool client : {true, false}) {
        auto [it, inserted] =
            by_end.try_emplace({client ? e.from : e.to, e.port, e.client_port, client}, i);
        if (!inserted && it->second != i)
          it->second = SIZE_MAX;
      }
    }
    std::vector<std::pair<PairKey, Index::LifeEnd>> left_lives(x.lives.begin(), x.lives.end());
    for (const auto& [key, l] : left_lives) {
      const uint16_t client_port = options_.per_connection ? key.client_port : 0;
      auto it = by_end.find({l.node, key.server_port, client_port, l.connect});
      if (it == by_end.end() || it->second == SIZE_MAX) {
        ++graph_.stats.lives_unattributed;
        continue;
      }
      Edge& e = graph_.edges[it->second];
      ++(l.open ? e.still_open : e.closed);
      (l.connect ? e.bytes_to_client : e.bytes_to_server) += l.received;
      (l.connect ? e.bytes_to_server : e.bytes_to_client) += l.sent;
      e.durations_ns.push_back(l.duration_ns);
    }
  }
  x.lives.clear();

  // Labels: name, pid, local addresses (like the prototype drew them).
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    Node& n = graph_.nodes[i];
    if (n.external)
      continue;
    n.label.clear();
    switch (options_.group_by) {
    case GroupBy::Pid:
    case GroupBy::Service: // processes, as with pid
      append_dot_text(n.label, n.name);
      n.label += "\\npid " + std::to_string(n.pid);
      // Where it runs, when the trace says: its container, else its unit.
      if (!n.container.empty()) {
        n.label += "\\ncontainer ";
        append_dot_text(n.label, n.container);
      } else if (!n.unit.empty()) {
        n.label += "\\n";
        append_dot_text(n.label, n.unit);
      }
      break;
    case GroupBy::Container:
      // The short id Docker shows; the node's key keeps the whole one.
      if (n.name.starts_with("no ")) {
        append_dot_text(n.label, n.name);
      } else {
        n.label += "container ";
        append_dot_text(n.label, std::string_view(n.name).substr(0, 12));
      }
      break;
    case GroupBy::Pod:
      if (!n.name.starts_with("no "))
        n.label += "pod ";
      append_dot_text(n.label, n.name);
      break;
    case GroupBy::Exe:
    case GroupBy::Unit:
    case GroupBy::Cgroup:
      append_dot_text(n.label, n.name);
      break;
    case GroupBy::Comm:
      append_dot_text(n.label, n.name);
      break;
    case GroupBy::Host:
      append_dot_text(n.label, n.host.empty() ? "this host" : n.host);
      break;
    case GroupBy::Address:
      break;
    }
    const Index::Addrs& addrs = index_->addrs[i];
    for (size_t a = 0; a < addrs.n; ++a) {
      if (!n.label.empty())
        n.label += "\\n";
      const size_t at = n.label.size();
      append_ip(n.label, addrs.a[a].ip());
      n.addresses.push_back(n.label.substr(at)); // the same text, as a field
    }
  }

  // Filters on the finished edges, so a filtered process still pairs first.
  auto matches = [](const re2::RE2* re, const Node& n) {
    return !n.external && re2::RE2::PartialMatch(n.name, *re);
  };
  std::vector<Edge> kept;
  for (const Edge& e : graph_.edges) {
    const Node& a = graph_.nodes[e.from];
    const Node& b = graph_.nodes[e.to];
    if (e.count == 0 || e.count < options_.min_count) // 0: every connection moved away
      continue;
    if (include_ && !matches(include_.get(), a) && !matches(include_.get(), b))
      continue;
    if (exclude_ && (matches(exclude_.get(), a) || matches(exclude_.get(), b)))
      continue;
    kept.push_back(e);
  }
  graph_.edges = std::move(kept);
  // Drop nodes no edge touches any more (after filtering), keeping order.
  drop_unused_nodes(graph_);
  return std::move(graph_);
}

namespace {
// Three significant digits: "48", "4.8", "1.25".
std::string short_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, v >= 100 ? "%.0f" : v >= 10 ? "%.1f" : "%.2f", v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0')
      s.pop_back();
    if (s.back() == '.')
      s.pop_back();
  }
  return s;
}
} // namespace

std::string byte_words(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  double v = double(bytes);
  size_t u = 0;
  while (v >= 1000 && u + 1 < std::size(kUnits)) {
    v /= 1000;
    ++u;
  }
  return (u == 0 ? std::to_string(bytes) : short_number(v)) + " " + kUnits[u];
}

std::string duration_words(uint64_t ns) {
  if (ns < 1000)
    return std::to_string(ns) + " ns";
  if (ns < 1000000)
    return short_number(double(ns) / 1e3) + " us";
  if (ns < 1000000000)
    return short_number(double(ns) / 1e6) + " ms";
  return short_number(double(ns) / 1e9) + " s";
}

uint64_t median_duration(const Edge& e) {
  if (e.durations_ns.empty())
    return 0;
  std::vector<uint64_t> d = e.durations_ns;
  auto mid = d.begin() + ptrdiff_t((d.size() - 1) / 2);
  std::nth_element(d.begin(), mid, d.end());
  return *mid;
}

uint64_t max_duration(const Edge& e) {
  return e.durations_ns.empty() ? 0
                                : *std::max_element(e.durations_ns.begin(), e.durations_ns.end());
}

void drop_unused_nodes(Graph& g) {
  std::vector<bool> used(g.nodes.size(), false);
  for (const Edge& e : g.edges)
    used[e.from] = used[e.to] = true;
  std::vector<size_t> remap(g.nodes.size(), SIZE_MAX);
  std::vector<Node> nodes;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!used[i])
      continue;
    remap[i] = nodes.size();
    nodes.push_back(std::move(g.nodes[i]));
  }
  g.nodes = std::move(nodes);
  for (Edge& e : g.edges) {
    e.from = remap[e.from];
    e.to = remap[e.to];
  }
}

} // namespace nt
