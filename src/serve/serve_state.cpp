#include "serve/serve_state.h"

#include <algorithm>
#include <functional>
#include <string_view>
#include <tuple>

#include "trace/format.h"

namespace nt {
namespace {

size_t mix(size_t h, size_t v) {
  return h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
}

size_t hash_ip(const IpAddr& ip) {
  return std::hash<std::string_view>{}(std::string_view(
      reinterpret_cast<const char*>(ip.bytes.data()), ip.family == 4 ? 4 : ip.bytes.size()));
}

// Expiry walks every edge: at most once a second, however often the loop ticks.
constexpr uint64_t kExpiryEveryMs = 1000;

} // namespace

size_t EdgeKeyHash::operator()(const EdgeKey& k) const {
  size_t h = std::hash<std::string>{}(k.comm);
  h = mix(h, hash_ip(k.server_addr));
  h = mix(h, size_t(k.server_port) << 8 | size_t(k.direction));
  return k.via_addr.family ? mix(mix(h, hash_ip(k.via_addr)), k.via_port) : h;
}

size_t ServeState::ConnKeyHash::operator()(const ConnKey& k) const {
  size_t h = mix(hash_ip(k.local.ip), k.local.port);
  h = mix(h, hash_ip(k.remote.ip));
  return mix(mix(h, k.remote.port), k.netns);
}

ServeState::ServeState(ServeLimits limits) : limits_(limits) {
  health_.events.assign(kinds().size(), 0);
  health_.overflow.assign(kinds().size(), 0);
}

bool ServeState::edge_of(const Record& r, EdgeKey& key) {
  const KindInfo& k = kind_info(r.type);
  const Side side = record_side(k, r); // existing records carry their own
  if (!k.connection || side == Side::None)
    return false;
  key.comm.clear();
  append_escaped_comm(key.comm, r.comm);
  // With --nat (NatSource), nat_remote on an outgoing end is the server
  // after DNAT, and nat_local on an incoming one the address the client
  // asked for before it: the same (server, via) on both ends.
  const bool out = side == Side::Out;
  const bool translated = out ? r.nat_remote.ip.family != 0 : r.nat_local.ip.family != 0;
  const Endpoint& server = out ? (translated ? r.nat_remote : r.remote) : r.local;
  key.server_addr = server.ip;
  unmap_v4(key.server_addr);
  key.server_port = server.port;
  key.direction = side;
  key.via_addr = {};
  key.via_port = 0;
  if (translated) {
    const Endpoint& via = out ? r.remote : r.nat_local;
    key.via_addr = via.ip;
    unmap_v4(key.via_addr);
    key.via_port = via.port;
  }
  return true;
}

void ServeState::count_edge(const Record& r, uint64_t now_ms) {
  EdgeKey key;
  if (!edge_of(r, key))
    return;
  auto it = edges_.find(key);
  if (it == edges_.end()) {
    if (edges_.size() >= limits_.max_edges) {
      // No room: counted, never silently dropped. Expiry makes room later.
      ++health_.overflow[size_t(r.type)];
      return;
    }
    it = edges_.emplace(std::move(key), EdgeStats{}).first;
    it->second.by_kind.assign(kinds().size(), 0);
  }
  EdgeStats& e = it->second;
  ++e.by_kind[size_t(r.type)];
  e.last_ms = now_ms;
  if (kind_info(r.type).pairs) {
    ++e.open;
  } else if (r.type == RecordType::Close) {
    // A close of a connection that began before the map saw it (an expired
    // edge, say) cannot take the gauge below zero.
    e.open -= e.open > 0 ? 1 : 0;
    e.bytes_sent += r.bytes_sent;
    e.bytes_received += r.bytes_received;
    const double s = double(r.duration_ns) / 1e9;
    size_t b = 0;
    while (b < kDurationBucketsS.size() && s > kDurationBucketsS[b])
      ++b;
    ++e.duration_buckets[b];
    ++e.duration_count;
    e.duration_sum_s += s;
  }
}

void ServeState::remember_connection(const Record& r, uint64_t now_ms) {
  // Connection ends (connect, accept, existing) are remembered until their
  // close: /api/connections is what is open now. (Entries of conn_order_ for
  // an erased key no longer find it and are skipped.)
  if (r.type == RecordType::Close) {
    conns_.erase(ConnKey{r.local, r.remote, r.netns});
    return;
  }
  if (!kind_info(r.type).pairs || limits_.max_connections == 0)
    return;
  ConnKey key{r.local, r.remote, r.netns};
  const uint64_t seq = ++conn_seq_;
  auto it = conns_.try_emplace(key).first; // a tuple seen again is updated
  it->second.record = r;
  it->second.seq = seq;
  it->second.last_ms = now_ms;
  conn_order_.emplace_back(key, seq);
  // Forget the oldest for room; entries of conn_order_ whose seq no longer
  // matches were updated since and are skipped.
  while (conns_.size() > limits_.max_connections && !conn_order_.empty()) {
    auto [old, old_seq] = conn_order_.front();
    conn_order_.pop_front();
    auto o = conns_.find(old);
    if (o != conns_.end() && o->second.seq == old_seq) {
      conns_.erase(o);
      ++health_.connections_evicted;
    }
  }
  // A tuple seen again leaves a stale entry behind: keep the queue within
  // twice the table.
  if (conn_order_.size() > 2 * conns_.size() + 1024) {
    std::deque<std::pair<ConnKey, uint64_t>> live;
    for (auto& e : conn_order_) {
      auto o = conns_.find(e.first);
      if (o != conns_.end() && o->second.seq == e.second)
        live.push_back(std::move(e));
    }
    conn_order_.swap(live);
  }
}

void ServeState::expire(uint64_t now_ms) {
  if (now_ms < last_expiry_ms_ + kExpiryEveryMs && last_expiry_ms_ != 0)
    return;
  last_expiry_ms_ = now_ms;
  const uint64_t cut = now_ms > limits_.expire_ms ? now_ms - limits_.expire_ms : 0;
  health_.edges_expired +=
      std::erase_if(edges_, [cut](const auto& e) { return e.second.last_ms < cut; });
  while (!conn_order_.empty()) {
    auto& [key, seq] = conn_order_.front();
    auto o = conns_.find(key);
    if (o != conns_.end() && o->second.seq == seq) {
      if (o->second.last_ms >= cut)
        break;
      conns_.erase(o);
      ++health_.connections_expired;
    }
    conn_order_.pop_front();
  }
}

void ServeState::apply(std::span<const Record> batch, uint64_t now_ms) {
  std::lock_guard lock(mu_);
  if (!batch.empty())
    generation_.fetch_add(1, std::memory_order_relaxed);
  for (const Record& r : batch) {
    ++health_.events[size_t(r.type)];
    if (r.type == RecordType::Lost)
      health_.lost_events += r.lost;
    count_edge(r, now_ms);
    remember_connection(r, now_ms);
    if (limits_.ring) {
      if (ring_.size() >= limits_.ring) {
        ring_.pop_front();
        ++health_.ring_evicted;
      }
      ring_.push_back(r);
    }
  }
  expire(now_ms);
}

void ServeState::set_tracer_health(const TracerHealth& t) {
  std::lock_guard lock(mu_);
  // The tracer's own count wins: it also holds losses not yet drained as records.
  health_.lost_events = std::max(health_.lost_events, t.lost);
  health_.missed_known = t.missed_known;
  health_.missed = t.missed;
  health_.ringbuf_bytes = t.ringbuf_bytes;
  health_.ring_use_known = t.ring_use_known;
  health_.ring_used = t.ring_used;
  health_.ring_peak = t.ring_peak;
}

void ServeState::count_http(uint64_t refused, uint64_t timeouts, uint64_t bad) {
  std::lock_guard lock(mu_);
  health_.http_refused += refused;
  health_.http_timeouts += timeouts;
  health_.http_bad += bad;
}

MetricsSnapshot ServeState::metrics(uint64_t now_ms) {
  MetricsSnapshot s;
  {
    std::lock_guard lock(mu_);
    expire(now_ms);
    s.edges.reserve(edges_.size());
    for (const auto& e : edges_)
      s.edges.emplace_back(e.first, e.second);
    s.health = health_;
    s.connections = conns_.size();
    s.ring = ring_.size();
  }
  // Sorted outside the lock: a scrape's order is stable, whatever the hash.
  std::sort(s.edges.begin(), s.edges.end(), [](const auto& a, const auto& b) {
    auto order = [](const EdgeKey& k) {
      return std::tie(k.comm, k.direction, k.server_addr.family, k.server_addr.bytes, k.server_port,
                      k.via_addr.family, k.via_addr.bytes, k.via_port);
    };
    return order(a.first) < order(b.first);
  });
  return s;
}

std::vector<Record> ServeState::events(const EventQuery& q) {
  std::vector<Record> out;
  std::string comm;
  std::lock_guard lock(mu_);
  for (const Record& r : ring_) {
    if (out.size() >= q.limit)
      break;
    if (r.time_ns <= q.since_ns && q.since_ns)
      continue;
    if (q.has_type && r.type != q.type)
      continue;
    if (q.has_pid && (!kind_info(r.type).connection || r.pid != q.pid))
      continue;
    if (q.has_comm) {
      if (!kind_info(r.type).connection)
        continue;
      comm.clear();
      append_escaped_comm(comm, r.comm);
      if (comm != q.comm)
        continue;
    }
    out.push_back(r);
  }
  return out;
}

std::vector<Record> ServeState::connections(uint64_t now_ms) {
  std::vector<Record> out;
  std::lock_guard lock(mu_);
  expire(now_ms);
  out.reserve(conns_.size());
  for (const auto& [key, seq] : conn_order_) {
    auto o = conns_.find(key);
    if (o != conns_.end() && o->second.seq == seq)
      out.push_back(o->second.record);
  }
  return out;
}

// (For the live page's stream: see generation().)
uint64_t ServeState::lost_events() {
  std::lock_guard lock(mu_);
  return health_.lost_events;
}

} // namespace nt
