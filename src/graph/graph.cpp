#include "graph/graph.h"

#include <absl/container/flat_hash_map.h>
#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <unordered_map>

#include "trace/format.h"

namespace nt {

bool is_loopback(const IpAddr& ip) {
  if (ip.family == 4)
    return ip.bytes[0] == 127;
  static constexpr uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return ip.family == 6 && std::memcmp(ip.bytes.data(), v6_loopback, 16) == 0;
}

namespace {

// DOT label text: a literal backslash must be doubled (DOT gives "\n", "\l"
// and friends a meaning); the names are already ASCII (escaped by nt_trace).
void append_dot_text(std::string& out, std::string_view s) {
  for (char c : s) {
    if (c == '\\')
      out.push_back('\\');
    out.push_back(c);
  }
}

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

// A connection's identity: client endpoint, server endpoint, and for loopback
// the host and network namespace (two pods both using 127.0.0.1 are different
// machines to us). An IPv4 endpoint counts 4 address bytes, any other 16.
// The pending maps are std::unordered_map and finish() sends their leftovers
// out in the map's order, which the DOT output shows: `hash` is therefore
// std::hash of the byte string the key used to be (see pair_hash), which keeps
// that order as it was.
struct PairKey {
  size_t hash = 0;
  uint32_t host = 0;  // scoped keys only
  uint32_t netns = 0; // scoped keys only
  bool scoped = false;
  Endpoint client, server;
  bool operator==(const PairKey& o) const { return hash == o.hash && same_tuple(o); }
  // Equal but for the hash. Field by field, as the fields were written: a
  // wider load over several fresh narrow stores would stall.
  bool same_tuple(const PairKey& o) const {
    return same(client, o.client) && same(server, o.server) && scoped == o.scoped &&
           host == o.host && netns == o.netns;
  }
  static bool same(const Endpoint& a, const Endpoint& b) {
    if (a.port != b.port || a.ip.family != b.ip.family)
      return false;
    uint64_t x[2], y[2];
    std::memcpy(x, a.ip.bytes.data(), 16);
    std::memcpy(y, b.ip.bytes.data(), 16);
    return a.ip.family == 4 ? uint32_t(x[0]) == uint32_t(y[0]) : x[0] == y[0] && x[1] == y[1];
  }
};

// Debian builds abseil with its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW
// is 0): heterogeneous lookups into a map of std::string take that type.
absl::string_view absl_view(std::string_view s) {
  return {s.data(), s.size()};
}

// std::hash of the byte string the key used to be (see PairKey); `hosts` names
// the host indexes, `text` is scratch.
size_t pair_hash(const PairKey& key, const std::vector<std::string>& hosts, std::string& text) {
  // Each endpoint as family, address (4 bytes for IPv4, else 16) and port,
  // big-endian.
  char bytes[2 * 19];
  size_t len = 0;
  for (const Endpoint* ep : {&key.client, &key.server}) {
    const size_t n = ep->ip.family == 4 ? 4 : 16;
    bytes[len] = char(ep->ip.family);
    std::memcpy(bytes + len + 1, ep->ip.bytes.data(), n);
    bytes[len + 1 + n] = char(ep->port >> 8);
    bytes[len + 2 + n] = char(ep->port & 0xff);
    len += n + 3;
  }
  const std::string_view binary(bytes, len);
  if (!key.scoped)
    return std::hash<std::string_view>{}(binary);
  text.assign(binary);
  text.push_back('\0');
  text += hosts[key.host];
  text.push_back('\0');
  char digits[10];
  text.append(digits, std::to_chars(digits, digits + sizeof digits, key.netns).ptr);
  return std::hash<std::string_view>{}(text);
}

struct PairKeyHash {
  size_t operator()(const PairKey& k) const noexcept { return k.hash; }
};

struct EdgeKey {
  size_t from, to;
  uint16_t port, client_port;
  bool operator==(const EdgeKey&) const = default;
  template <typename H> friend H AbslHashValue(H h, const EdgeKey& k) {
    return H::combine(std::move(h), k.from, k.to, k.port, k.client_port);
  }
};

// Up to 16 bytes as two words that, with the length, tell them apart: two
// loads that may overlap instead of a copy into a zeroed buffer.
void short_bytes(std::string_view b, uint64_t& lo, uint64_t& hi) {
  const char* p = b.data();
  const size_t n = b.size();
  if (n >= 8) {
    std::memcpy(&lo, p, 8);
    std::memcpy(&hi, p + n - 8, 8);
  } else if (n >= 4) {
    uint32_t a, c;
    std::memcpy(&a, p, 4);
    std::memcpy(&c, p + n - 4, 4);
    lo = a;
    hi = c;
  } else {
    lo = n ? uint64_t(uint8_t(p[0])) | uint64_t(uint8_t(p[n / 2])) << 8 |
                 uint64_t(uint8_t(p[n - 1])) << 16
           : 0;
    hi = 0;
  }
}

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

// Everything add() looks up, keyed in binary so that a record whose host,
// process and edge are already known allocates nothing.
struct GraphBuilder::Index {
  // Host names in graph_.hosts order. The input's host is the same for a whole
  // file: the last one is remembered and checked first.
  absl::flat_hash_map<std::string, uint32_t> hosts;
  std::string last_host;
  uint32_t last_host_index = UINT32_MAX;
  // Process nodes by host index + what --group-by groups on (see process_node),
  // external nodes by their address text.
  absl::flat_hash_map<std::string, size_t> nodes;
  absl::flat_hash_map<std::string, size_t> externals;
  absl::flat_hash_map<EdgeKey, size_t> edges;
  // Per node: the local addresses its label lists, at most 4.
  struct Addrs {
    uint8_t n = 0;
    std::array<LabelAddr, 4> a;
    void note(const LabelAddr& local) {
      // Most processes use one address: the first is checked before the rest.
      if (n > 0 && a[0] == local)
        return;
      if (n < 4 && std::find(a.begin(), a.begin() + n, local) == a.begin() + n)
        a[n++] = local;
    }
  };
  std::vector<Addrs> addrs;
  // Connection ends waiting for their peer. An entry is erased as soon as it
  // pairs.
  std::unordered_map<PairKey, Pending, PairKeyHash> connects, accepts;
  // The newest entry, not yet in its map (see add()).
  bool staged = false;
  bool staged_connect = false;
  PairKey staged_key;
  Pending staged_end{};
  // A direct-mapped cache in front of `nodes`: a trace names the same few
  // processes over and over, and comparing a few words is cheaper than
  // building and hashing the map's key. A slot holds the host, a number (pid
  // or address family) and up to 16 bytes (name or address) as two words
  // (see short_bytes).
  struct NodeSlot {
    uint32_t host = 0, num = 0;
    uint64_t lo = 0, hi = 0;
    size_t len = SIZE_MAX; // SIZE_MAX: empty
    size_t node = 0;
  };
  std::array<NodeSlot, 256> node_cache;
  // The same in front of `edges`: the graph has few edges, each seen often.
  struct EdgeSlot {
    EdgeKey key{SIZE_MAX, SIZE_MAX, 0, 0};
    size_t edge = 0;
  };
  std::array<EdgeSlot, 1024> edge_cache;
  // add_arrow's memo: (host, process text) -> node. With grouping by pid,
  // name or host, the node a text maps to never changes (process_node looks
  // up what the text says), so a hit only has the local address left to
  // note, as process_node would.
  static constexpr size_t kTailMid = 4; // words between the first and last
  struct ProcSlot {
    uint64_t first = 0, last = 0, mid[kTailMid] = {};
    size_t len = 0; // 0 = empty
    uint32_t host = 0;
    size_t node = 0;
  };
  std::array<ProcSlot, 1024> proc_memo;
  Record scratch;   // reused: add_arrow's record when the memo misses
  std::string key;  // reused: the node key being looked up
  std::string text; // reused: external node names, scoped pair keys
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

size_t GraphBuilder::process_node(const Record& r, uint32_t host) {
  Index& x = *index_;
  const uint64_t host_word = uint64_t(host) << 32; // widened first: a spilled
                                                   // 32-bit copy reloaded as 64 stalled
  const LabelAddr local = label_addr(r.local.ip);
  // Remembers the local addresses a node uses, for its label (a process may
  // have several: loopback and an interface, or IPv4 and IPv6).
  auto note_local = [&](size_t node) {
    x.addrs[node].note(local);
    return node;
  };
  // What the node groups on besides the host: a number and some bytes.
  uint32_t num = 0;
  std::string_view bytes;
  switch (options_.group_by) {
  case GroupBy::Pid:
    num = r.pid;
    bytes = r.comm;
    break;
  case GroupBy::Comm:
    bytes = r.comm;
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
  Index::NodeSlot* slot = nullptr;
  uint64_t lo = 0, hi = 0;
  if (bytes.size() <= 16) {
    short_bytes(bytes, lo, hi);
    const uint64_t h =
        ((host_word | num) * 0x9e3779b97f4a7c15 ^ lo * 0xc2b2ae3d27d4eb4f ^ hi ^ bytes.size()) *
        0x9e3779b97f4a7c15;
    slot = &x.node_cache[h >> 56];
    if (slot->len == bytes.size() && slot->host == host && slot->num == num && slot->lo == lo &&
        slot->hi == hi)
      return note_local(slot->node);
  }
  // The map's key: host index, number, bytes. The raw name stands for the
  // escaped one (escaping is one to one) and the binary address for its text
  // (label_addr).
  std::string& key = x.key;
  key.resize(sizeof host + sizeof num + bytes.size());
  std::memcpy(key.data(), &host, sizeof host);
  std::memcpy(key.data() + sizeof host, &num, sizeof num);
  // --group-by host has no bytes (a null view): memcpy must not see it.
  if (!bytes.empty())
    std::memcpy(key.data() + sizeof host + sizeof num, bytes.data(), bytes.size());
  auto it = x.nodes.find(absl_view(key));
  if (it == x.nodes.end()) {
    // Node::key keeps the text form it has always had (host, NUL, pid, NUL,
    // name); labels take the pid from Node::pid, since a host name may hold
    // a NUL itself.
    const std::string& host_name = graph_.hosts[host];
    Node n;
    n.key = host_name;
    n.key.push_back('\0');
    append_escaped_comm(n.name, r.comm);
    switch (options_.group_by) {
    case GroupBy::Pid:
      n.key += std::to_string(r.pid);
      n.key.push_back('\0');
      n.key += n.name;
      n.pid = r.pid;
      break;
    case GroupBy::Comm:
      n.key += n.name;
      break;
    case GroupBy::Host:
      break;
    case GroupBy::Address:
      n.key += ip_text(r.local.ip);
      break;
    }
    n.host = host_name;
    it = x.nodes.emplace(key, graph_.nodes.size()).first;
    graph_.nodes.push_back(std::move(n));
    x.addrs.resize(graph_.nodes.size());
  }
  if (slot)
    *slot = {host, num, lo, hi, bytes.size(), it->second};
  return note_local(it->second);
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
  }
  return it->second;
}

void GraphBuilder::add_edge(size_t from, size_t to, uint16_t port, uint16_t client_port,
                            bool matched) {
  if (!options_.per_connection)
    client_port = 0;
  const EdgeKey key{from, to, port, client_port};
  const uint64_t h =
      ((from << 32 ^ to) * 0x9e3779b97f4a7c15 ^ (uint64_t(port) << 16 | client_port)) *
      0xc2b2ae3d27d4eb4f;
  Index::EdgeSlot& slot = index_->edge_cache[h >> 54];
  if (slot.key == key) {
    ++graph_.edges[slot.edge].count;
    return;
  }
  auto [it, inserted] = index_->edges.try_emplace(key, graph_.edges.size());
  if (inserted)
    graph_.edges.push_back(Edge{from, to, port, client_port, 0, matched});
  ++graph_.edges[it->second].count;
  slot = {key, it->second};
}

void GraphBuilder::flush_connect(const Pending& p) {
  ++graph_.stats.unmatched_connects;
  std::string& ep = index_->text;
  ep.clear();
  append_endpoint(ep, p.remote);
  add_edge(p.node, external_node(ep), p.remote.port, p.local_port, false);
}

void GraphBuilder::flush_accept(const Pending& p) {
  ++graph_.stats.unmatched_accepts;
  std::string& ip = index_->text;
  ip.clear();
  append_ip(ip, p.remote.ip);
  add_edge(external_node(ip), p.node, p.local_port, p.remote.port, false);
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
  switch (r.type) {
  case RecordType::Lost:
    graph_.stats.lost += r.lost;
    return;
  case RecordType::Failed:
    ++graph_.stats.failed;
    return;
  case RecordType::Connect:
    ++graph_.stats.connects;
    break;
  case RecordType::Accept:
    ++graph_.stats.accepts;
    break;
  }
  ++graph_.stats.events;
  if (options_.no_loopback && is_loopback(r.remote.ip))
    return;
  add_end(r.type == RecordType::Connect, r.local, r.remote, r.netns, host, process_node(r, host));
}

bool GraphBuilder::add_arrow(const ArrowView& v, uint32_t host) {
  Index& x = *index_;
  // The process memo's key: host, length and the tail's bytes as words: the
  // first 8, the last 8 (overlapping the first when the tail is short) and
  // for tails past 16 bytes the words between. Tails of 8 to 48 bytes use the
  // memo (every read stays inside the tail); others take the long way, and so
  // does --group-by address, where the node follows the local address, not
  // the process text.
  const size_t n = v.tail.size();
  Index::ProcSlot* slot = nullptr;
  uint64_t first = 0, last = 0, mid[Index::kTailMid] = {};
  size_t mids = 0;
  size_t node = SIZE_MAX;
  if (n >= 8 && n <= 8 * (Index::kTailMid + 2) && options_.group_by != GroupBy::Address) {
    const char* p = v.tail.data();
    std::memcpy(&first, p, 8);
    std::memcpy(&last, p + n - 8, 8);
    uint64_t h = ((uint64_t(host) << 32 | n) * 0x9e3779b97f4a7c15) ^ (first * 0xc2b2ae3d27d4eb4f) ^
                 (last * 0x165667b19e3779f9);
    if (n > 16) {
      mids = (n - 1) / 8 - 1;
      for (size_t i = 0; i < mids; ++i) {
        std::memcpy(&mid[i], p + 8 * (i + 1), 8);
        h = (h ^ mid[i]) * 0x27d4eb2f165667c5;
      }
    }
    slot = &x.proc_memo[(h * 0x9e3779b97f4a7c15) >> 54];
    // Same length, so the same words are in use; unused ones are zero.
    bool same = slot->len == n && slot->host == host && slot->first == first && slot->last == last;
    for (size_t i = 0; same && i < mids; ++i)
      same = slot->mid[i] == mid[i];
    if (same)
      node = slot->node;
  }
  Record& r = x.scratch;
  if (node == SIZE_MAX) {
    // First time for this process text: read it as parse() would. A tail it
    // would not take makes the caller go the general way; nothing has
    // changed yet.
    if (!parse_arrow_tail(v.tail, r.pid, r.comm))
      return false;
    r.type = v.type;
    r.local = v.local;
    r.remote = v.remote;
  }
  // From here on what add() does with the record parse() would give.
  const bool connect = v.type == RecordType::Connect;
  ++(connect ? graph_.stats.connects : graph_.stats.accepts);
  ++graph_.stats.events;
  if (options_.no_loopback && is_loopback(v.remote.ip))
    return true;
  if (node != SIZE_MAX) {
    x.addrs[node].note(label_addr(v.local.ip));
  } else {
    node = process_node(r, host);
    if (slot) {
      slot->first = first;
      slot->last = last;
      std::memcpy(slot->mid, mid, sizeof mid);
      slot->len = n;
      slot->host = host;
      slot->node = node;
    }
  }
  add_end(connect, v.local, v.remote, 0, host, node);
  return true;
}

void GraphBuilder::add_end(bool connect, const Endpoint& local, const Endpoint& remote,
                           uint32_t netns, uint32_t host, size_t node) {
  const Endpoint& client_end = connect ? local : remote;
  const Endpoint& server_end = connect ? remote : local;
  const bool scoped = is_loopback(server_end.ip);
  if (!scoped)
    host = netns = 0;
  Index& x = *index_;
  auto pair_up = [&](const Pending& peer) {
    ++graph_.stats.matched;
    const size_t client = connect ? node : peer.node;
    const size_t server = connect ? peer.node : node;
    const uint16_t server_port = connect ? remote.port : local.port;
    const uint16_t client_port = connect ? local.port : remote.port;
    add_edge(client, server, server_port, client_port, true);
  };
  if (x.staged) {
    // Compared before any key is built: zeroing and filling a PairKey only
    // to compare it cost more than the rest of this function.
    const PairKey& k = x.staged_key;
    if (x.staged_connect != connect && PairKey::same(k.client, client_end) &&
        PairKey::same(k.server, server_end) && k.scoped == scoped && k.host == host &&
        k.netns == netns) {
      // Its peer came next: inserted and erased at once, it would have left
      // the map as it was.
      x.staged = false;
      pair_up(x.staged_end);
      return;
    }
    commit_staged();
  }
  PairKey key;
  key.client = client_end;
  key.server = server_end;
  key.scoped = scoped;
  key.host = host;
  key.netns = netns;

  auto& mine = connect ? x.connects : x.accepts;
  auto& theirs = connect ? x.accepts : x.connects;
  // Lookups need the order-keeping hash; with both maps empty (the common
  // case when ends pair at once) there is nothing to look up.
  if (!theirs.empty() || !mine.empty())
    key.hash = pair_hash(key, graph_.hosts, x.text);
  if (!theirs.empty()) {
    auto peer = theirs.find(key);
    if (peer != theirs.end()) {
      pair_up(peer->second);
      theirs.erase(peer);
      return;
    }
  }
  Pending p{node, remote, local.port, seq_++};
  if (!mine.empty()) {
    // The same 4-tuple again before its peer showed up: the earlier one can no
    // longer pair (the port was reused), so it goes out as unmatched.
    auto it = mine.find(key);
    if (it != mine.end()) {
      connect ? flush_connect(it->second) : flush_accept(it->second);
      it->second = p;
      if (mine.size() > options_.max_pending)
        evict_oldest(connect);
      return;
    }
  }
  // A new entry. Most are erased by the very next record (its peer), so it
  // waits beside the map, unless inserting it would grow the map or evict:
  // those must happen now to keep the map's order and the eviction as they
  // were. The map grows when its size passes bucket_count * max_load_factor
  // (libstdc++ also grows a never-used map, whose bucket_count is 1).
  const bool grows =
      mine.bucket_count() <= 1 ||
      double(mine.size() + 1) > std::floor(mine.bucket_count() * double(mine.max_load_factor()));
  if (!grows && mine.size() + 1 <= options_.max_pending) {
    x.staged = true;
    x.staged_connect = connect;
    x.staged_key = key;
    x.staged_end = p;
    return;
  }
  key.hash = pair_hash(key, graph_.hosts, x.text);
  mine.try_emplace(key, p);
  if (mine.size() > options_.max_pending)
    evict_oldest(connect);
}

// Puts the waiting entry into its map, as add() would have done when it came.
void GraphBuilder::commit_staged() {
  Index& x = *index_;
  x.staged = false;
  x.staged_key.hash = pair_hash(x.staged_key, graph_.hosts, x.text);
  auto& map = x.staged_connect ? x.connects : x.accepts;
  map.try_emplace(x.staged_key, x.staged_end);
  if (map.size() > options_.max_pending)
    evict_oldest(x.staged_connect);
}

// Drops the older half of one pending map as unmatched. Amortised O(1) per
// record: it runs once per max_pending/2 insertions.
void GraphBuilder::evict_oldest(bool connects) {
  auto& pending = connects ? index_->connects : index_->accepts;
  std::vector<uint64_t> seqs;
  seqs.reserve(pending.size());
  for (const auto& [key, p] : pending)
    seqs.push_back(p.seq);
  auto mid = seqs.begin() + seqs.size() / 2;
  std::nth_element(seqs.begin(), mid, seqs.end());
  const uint64_t cutoff = *mid;
  for (auto it = pending.begin(); it != pending.end();) {
    if (it->second.seq < cutoff) {
      connects ? flush_connect(it->second) : flush_accept(it->second);
      ++graph_.stats.evicted;
      it = pending.erase(it);
    } else {
      ++it;
    }
  }
}

Graph GraphBuilder::finish() {
  if (index_->staged)
    commit_staged();
  for (auto& [key, p] : index_->connects)
    flush_connect(p);
  for (auto& [key, p] : index_->accepts)
    flush_accept(p);
  index_->connects.clear();
  index_->accepts.clear();

  // Labels: name, pid, local addresses (like the prototype drew them).
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    Node& n = graph_.nodes[i];
    if (n.external)
      continue;
    n.label.clear();
    switch (options_.group_by) {
    case GroupBy::Pid:
      append_dot_text(n.label, n.name);
      n.label += "\\npid " + std::to_string(n.pid);
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
    if (e.count < options_.min_count)
      continue;
    if (include_ && !matches(include_.get(), a) && !matches(include_.get(), b))
      continue;
    if (exclude_ && (matches(exclude_.get(), a) || matches(exclude_.get(), b)))
      continue;
    kept.push_back(e);
  }
  graph_.edges = std::move(kept);
  // Drop nodes no edge touches any more (after filtering), keeping order.
  std::vector<size_t> remap(graph_.nodes.size(), SIZE_MAX);
  std::vector<bool> used(graph_.nodes.size(), false);
  for (const Edge& e : graph_.edges)
    used[e.from] = used[e.to] = true;
  std::vector<Node> nodes;
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    if (!used[i])
      continue;
    remap[i] = nodes.size();
    nodes.push_back(std::move(graph_.nodes[i]));
  }
  graph_.nodes = std::move(nodes);
  for (Edge& e : graph_.edges) {
    e.from = remap[e.from];
    e.to = remap[e.to];
  }
  return std::move(graph_);
}

} // namespace nt
