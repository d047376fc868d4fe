// What nettrace --serve keeps in memory: per edge counters (the series of
// /metrics), the connections seen lately (/api/connections, /api/graph) and a
// ring of recent records (/api/events). Everything is bounded: a cap on edges
// (past it, an overflow counter says what was cut), on connections and on the
// ring (the oldest go, counted), and idle edges and connections expire.
//
// Two threads use it: the trace loop hands each tick's records over in one
// apply() (one short lock per tick, never held while a client is served), and
// the HTTP thread copies what a request needs under the same lock, then
// formats and writes without it. The time it holds the lock is bounded by the
// caps, never by a client.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "trace/kinds.h"
#include "trace/record.h"

namespace nt {

struct ServeLimits {
  size_t max_edges = 10000;        // label sets of /metrics (each one series per counter)
  size_t max_connections = 65536;  // connections remembered for /api/connections, /api/graph
  size_t ring = 100000;            // recent records for /api/events
  uint64_t expire_ms = 300 * 1000; // an edge or connection idle this long is forgotten
};

// An edge, as /metrics labels it: no pid, no ephemeral port (cardinality).
// `comm` is this host's process (the client for out, the server for in),
// escaped as the lines write it; the server is the remote end for out and the
// local end for in. With --nat, the server is the one that served (a connect
// to a Service counts on the backend it was sent to, where that backend's own
// accepts count) and `via` the address the client asked for (family 0: no
// translation), so netgraph --prometheus pairs across NAT as it does traces.
struct EdgeKey {
  std::string comm;
  IpAddr server_addr;
  uint16_t server_port = 0;
  Side direction = Side::None;
  IpAddr via_addr;
  uint16_t via_port = 0;
  bool operator==(const EdgeKey&) const = default;
};

struct EdgeKeyHash {
  size_t operator()(const EdgeKey& k) const;
};

// Upper bounds (seconds) of the connection-duration histogram's buckets;
// +Inf follows them.
inline constexpr std::array<double, 9> kDurationBucketsS = {0.001, 0.01, 0.1,  1,    10,
                                                            60,    600,  3600, 86400};

struct EdgeStats {
  std::vector<uint64_t> by_kind; // records per kind, indexed by RecordType (the kind table)
  uint64_t last_ms = 0;          // monotonic time of the last record
  // From close records (this end's view): payload bytes each way, and how
  // long the connections lived.
  uint64_t bytes_sent = 0, bytes_received = 0;
  std::array<uint64_t, kDurationBucketsS.size() + 1>
      duration_buckets{}; // not cumulative; +Inf last
  uint64_t duration_count = 0;
  double duration_sum_s = 0;
  // Open now: +1 at a connect, accept or existing record, -1 at a close.
  // Like every series, it goes when its edge has been idle --serve-expire
  // (a connection open that long without a record on its edge is no longer
  // counted: the bound on series wins over the gauge).
  uint64_t open = 0;
};

// The tracer's side of its health, handed over at each scrape.
struct TracerHealth {
  uint64_t lost = 0;
  bool missed_known = false; // whether the kernel said how many hook runs it skipped
  uint64_t missed = 0;
  uint64_t ringbuf_bytes = 0;
  bool ring_use_known = false;
  uint64_t ring_used = 0, ring_peak = 0;
};

// nettrace's own health, as /metrics reports it.
struct ServeHealth {
  std::vector<uint64_t> events; // records per kind, indexed by RecordType
  uint64_t lost_events = 0;     // the counts of every lost record
  bool missed_known = false;    // whether the kernel said how many hook runs it skipped
  uint64_t missed = 0;
  uint64_t ringbuf_bytes = 0;       // the BPF ring buffer's size
  bool ring_use_known = false;      // whether the ring's positions could be mapped
  uint64_t ring_used = 0;           // bytes waiting in it at the scrape
  uint64_t ring_peak = 0;           // the most seen waiting at a drain since start
  uint64_t edges_expired = 0;       // idle edges forgotten
  uint64_t connections_evicted = 0; // connections forgotten for room (not by expiry)
  uint64_t connections_expired = 0;
  uint64_t ring_evicted = 0;      // records pushed out of the ring
  std::vector<uint64_t> overflow; // records per kind that found no room for their edge
  uint64_t http_refused = 0;      // clients refused or cut for room: too many at once
  uint64_t http_timeouts = 0;     // clients cut: too slow
  uint64_t http_bad = 0;          // requests answered 4xx
};

struct MetricsSnapshot {
  std::vector<std::pair<EdgeKey, EdgeStats>> edges; // sorted by key text
  ServeHealth health;
  size_t connections = 0, ring = 0;
};

struct EventQuery {
  uint64_t since_ns = 0; // records with a later ts_ns (0: all)
  bool has_pid = false;
  uint32_t pid = 0;
  bool has_comm = false;
  std::string comm; // as the lines write it (escaped)
  bool has_type = false;
  RecordType type = RecordType::Connect;
  size_t limit = 1000;
};

class ServeState {
public:
  explicit ServeState(ServeLimits limits);

  // One tick's records, at monotonic time now_ms (the trace loop).
  void apply(std::span<const Record> batch, uint64_t now_ms);
  // Health figures the loop reads from the tracer.
  // What the tracer knows of itself, read at each scrape (see TracerHealth).
  void set_tracer_health(const TracerHealth& t);
  void count_http(uint64_t refused, uint64_t timeouts, uint64_t bad);

  // Copies for the HTTP thread; each expires what is idle at now_ms first.
  MetricsSnapshot metrics(uint64_t now_ms);
  // The first `limit` matching records after since_ns, oldest first.
  std::vector<Record> events(const EventQuery& q);
  // The connections remembered, oldest first.
  std::vector<Record> connections(uint64_t now_ms);

  const ServeLimits& limits() const { return limits_; }
  // Moves whenever records came: the page's stream sends a new view only
  // then (or when lost_events() grew).
  uint64_t generation() const { return generation_.load(std::memory_order_relaxed); }
  // The lost events the tracer counts (the page's banner).
  uint64_t lost_events();
  // The edge a record counts on; false for kinds that are not connection ends.
  static bool edge_of(const Record& r, EdgeKey& key);

private:
  struct ConnKey {
    Endpoint local, remote;
    uint32_t netns = 0;
    bool operator==(const ConnKey&) const = default;
  };
  struct ConnKeyHash {
    size_t operator()(const ConnKey& k) const;
  };
  struct Conn {
    Record record;
    uint64_t seq = 0, last_ms = 0;
  };
  void count_edge(const Record& r, uint64_t now_ms);
  void remember_connection(const Record& r, uint64_t now_ms);
  void expire(uint64_t now_ms);

  const ServeLimits limits_;
  std::mutex mu_;
  std::unordered_map<EdgeKey, EdgeStats, EdgeKeyHash> edges_;
  std::unordered_map<ConnKey, Conn, ConnKeyHash> conns_;
  std::deque<std::pair<ConnKey, uint64_t>>
      conn_order_; // (key, seq), oldest first; stale ones skipped
  uint64_t conn_seq_ = 0;
  std::deque<Record> ring_;
  ServeHealth health_;
  uint64_t last_expiry_ms_ = 0;
  std::atomic<uint64_t> generation_{0};
};

} // namespace nt
