#include "graph/graph.h"

#include <re2/re2.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "trace/format.h"

namespace nt {

bool is_loopback(const IpAddr& ip) {
  if (ip.family == 4) return ip.bytes[0] == 127;
  static constexpr uint8_t v6_loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return ip.family == 6 && std::memcmp(ip.bytes.data(), v6_loopback, 16) == 0;
}

namespace {

// DOT label text: a literal backslash must be doubled (DOT gives "\n", "\l"
// and friends a meaning); the names are already ASCII (escaped by nt_trace).
void append_dot_text(std::string& out, std::string_view s) {
  for (char c : s) {
    if (c == '\\') out.push_back('\\');
    out.push_back(c);
  }
}

std::string ip_text(const IpAddr& ip) {
  std::string s;
  append_ip(s, ip);
  return s;
}

std::string endpoint_text(const Endpoint& ep) {
  std::string s;
  append_endpoint(s, ep);
  return s;
}

void append_binary(std::string& key, const Endpoint& ep) {
  key.push_back(char(ep.ip.family));
  key.append(reinterpret_cast<const char*>(ep.ip.bytes.data()), ep.ip.family == 4 ? 4 : 16);
  key.push_back(char(ep.port >> 8));
  key.push_back(char(ep.port & 0xff));
}

std::unique_ptr<re2::RE2> compile(const std::string& pattern, const char* flag) {
  if (pattern.empty()) return nullptr;
  re2::RE2::Options o;
  o.set_log_errors(false);
  auto re = std::make_unique<re2::RE2>(pattern, o);
  if (!re->ok()) throw std::invalid_argument(std::string(flag) + " '" + pattern + "': " + re->error());
  return re;
}

}  // namespace

GraphBuilder::GraphBuilder(GraphOptions options)
    : options_(std::move(options)),
      include_(compile(options_.include, "--include")),
      exclude_(compile(options_.exclude, "--exclude")) {}

GraphBuilder::~GraphBuilder() = default;

size_t GraphBuilder::process_node(const Record& r, const std::string& host) {
  std::string key = host;
  key.push_back('\0');
  std::string name;
  append_escaped_comm(name, r.comm);
  switch (options_.group_by) {
    case GroupBy::Pid:
      // pid alone is not an identity: pids are reused, so the name is part of it.
      key += std::to_string(r.pid);
      key.push_back('\0');
      key += name;
      break;
    case GroupBy::Comm: key += name; break;
    case GroupBy::Host: break;
    case GroupBy::Address: key += ip_text(r.local.ip); break;
  }
  auto [it, inserted] = node_index_.try_emplace(key, graph_.nodes.size());
  if (inserted) {
    Node n;
    n.key = key;
    n.host = host;
    n.name = name;
    graph_.nodes.push_back(std::move(n));
  }
  // Remember the local addresses a node uses, for its label (a process may
  // have several: loopback and an interface, or IPv4 and IPv6).
  auto& addrs = local_addrs_[it->second];
  std::string local = ip_text(r.local.ip);
  if (addrs.size() < 4 && std::find(addrs.begin(), addrs.end(), local) == addrs.end()) addrs.push_back(local);
  return it->second;
}

size_t GraphBuilder::external_node(const std::string& key, const std::string& label) {
  auto [it, inserted] = node_index_.try_emplace("\x01" + key, graph_.nodes.size());
  if (inserted) {
    Node n;
    n.key = "\x01" + key;
    n.name = label;
    append_dot_text(n.label, label);
    n.external = true;
    graph_.nodes.push_back(std::move(n));
  }
  return it->second;
}

void GraphBuilder::add_edge(size_t from, size_t to, uint16_t port, uint16_t client_port, bool matched) {
  if (!options_.per_connection) client_port = 0;
  auto [it, inserted] = edge_index_.try_emplace({from, to, port, client_port}, graph_.edges.size());
  if (inserted) graph_.edges.push_back(Edge{from, to, port, client_port, 0, matched});
  ++graph_.edges[it->second].count;
}

// client endpoint, server endpoint, and for loopback the host and network
// namespace: two pods both using 127.0.0.1 are different machines to us.
void GraphBuilder::pair_key(const Record& r, const std::string& host) {
  const bool connect = r.type == RecordType::Connect;
  const Endpoint& client = connect ? r.local : r.remote;
  const Endpoint& server = connect ? r.remote : r.local;
  key_buf_.clear();
  append_binary(key_buf_, client);
  append_binary(key_buf_, server);
  if (is_loopback(server.ip)) {
    key_buf_.push_back('\0');
    key_buf_ += host;
    key_buf_.push_back('\0');
    key_buf_ += std::to_string(r.netns);
  }
}

void GraphBuilder::flush_connect(const Pending& p) {
  ++graph_.stats.unmatched_connects;
  std::string ep = endpoint_text(p.remote);
  add_edge(p.node, external_node(ep, ep), p.remote.port, p.local_port, false);
}

void GraphBuilder::flush_accept(const Pending& p) {
  ++graph_.stats.unmatched_accepts;
  std::string ip = ip_text(p.remote.ip);
  add_edge(external_node(ip, ip), p.node, p.local_port, p.remote.port, false);
}

void GraphBuilder::add(const Record& r, std::string_view input_host) {
  const std::string host = r.host.empty() ? std::string(input_host) : r.host;
  if (std::find(graph_.hosts.begin(), graph_.hosts.end(), host) == graph_.hosts.end())
    graph_.hosts.push_back(host);
  switch (r.type) {
    case RecordType::Lost: graph_.stats.lost += r.lost; return;
    case RecordType::Failed: ++graph_.stats.failed; return;
    case RecordType::Connect: ++graph_.stats.connects; break;
    case RecordType::Accept: ++graph_.stats.accepts; break;
  }
  ++graph_.stats.events;
  if (options_.no_loopback && is_loopback(r.remote.ip)) return;

  const bool connect = r.type == RecordType::Connect;
  size_t node = process_node(r, host);
  pair_key(r, host);
  auto& mine = connect ? pending_connects_ : pending_accepts_;
  auto& theirs = connect ? pending_accepts_ : pending_connects_;
  auto peer = theirs.find(key_buf_);
  if (peer != theirs.end()) {
    ++graph_.stats.matched;
    const size_t client = connect ? node : peer->second.node;
    const size_t server = connect ? peer->second.node : node;
    const uint16_t server_port = connect ? r.remote.port : r.local.port;
    const uint16_t client_port = connect ? r.local.port : r.remote.port;
    add_edge(client, server, server_port, client_port, true);
    theirs.erase(peer);
    return;
  }
  // The same 4-tuple again before its peer showed up: the earlier one can no
  // longer pair (the port was reused), so it goes out as unmatched.
  Pending p{node, r.remote, r.local.port, seq_++};
  auto [it, inserted] = mine.try_emplace(key_buf_, p);
  if (!inserted) {
    connect ? flush_connect(it->second) : flush_accept(it->second);
    it->second = p;
  }
  if (mine.size() > options_.max_pending) evict_oldest(connect);
}

// Drops the older half of one pending map as unmatched. Amortised O(1) per
// record: it runs once per max_pending/2 insertions.
void GraphBuilder::evict_oldest(bool connects) {
  auto& pending = connects ? pending_connects_ : pending_accepts_;
  std::vector<uint64_t> seqs;
  seqs.reserve(pending.size());
  for (const auto& [key, p] : pending) seqs.push_back(p.seq);
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
  for (auto& [key, p] : pending_connects_) flush_connect(p);
  for (auto& [key, p] : pending_accepts_) flush_accept(p);
  pending_connects_.clear();
  pending_accepts_.clear();

  // Labels: name, pid, local addresses (like the prototype drew them).
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    Node& n = graph_.nodes[i];
    if (n.external) continue;
    n.label.clear();
    const std::string& k = n.key;
    switch (options_.group_by) {
      case GroupBy::Pid: {
        append_dot_text(n.label, n.name);
        size_t a = k.find('\0') + 1, b = k.find('\0', a);
        n.label += "\\npid " + k.substr(a, b - a);
        break;
      }
      case GroupBy::Comm: append_dot_text(n.label, n.name); break;
      case GroupBy::Host: append_dot_text(n.label, n.host.empty() ? "this host" : n.host); break;
      case GroupBy::Address: break;
    }
    for (const auto& addr : local_addrs_[i]) {
      if (!n.label.empty()) n.label += "\\n";
      n.label += addr;
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
    if (e.count < options_.min_count) continue;
    if (include_ && !matches(include_.get(), a) && !matches(include_.get(), b)) continue;
    if (exclude_ && (matches(exclude_.get(), a) || matches(exclude_.get(), b))) continue;
    kept.push_back(e);
  }
  graph_.edges = std::move(kept);
  // Drop nodes no edge touches any more (after filtering), keeping order.
  std::vector<size_t> remap(graph_.nodes.size(), SIZE_MAX);
  std::vector<bool> used(graph_.nodes.size(), false);
  for (const Edge& e : graph_.edges) used[e.from] = used[e.to] = true;
  std::vector<Node> nodes;
  for (size_t i = 0; i < graph_.nodes.size(); ++i) {
    if (!used[i]) continue;
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

}  // namespace nt
