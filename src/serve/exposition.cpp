#include "serve/exposition.h"

#include <array>
#include <charconv>
#include <cstdio>

#include "trace/format.h"

namespace nt {
namespace {

constexpr std::array kConnectionKinds = {RecordType::Connect, RecordType::Accept};
constexpr std::array kFailedKinds = {RecordType::Failed};
constexpr std::array kExistingKinds = {RecordType::Existing};
constexpr std::array kClosedKinds = {RecordType::Close};

// Connections made (connect, accept) and connections that were already open
// when nettrace started (the snapshot's `existing`) are counted apart: the
// first is what rate() is taken of, the second is a one-time count at start.
// Closes are counted per edge here; their bytes, the open gauge and the
// duration histogram are written after the counters (exposition()).
constexpr std::array kEdgeCounters = {
    EdgeCounter{"nettrace_connections_total",
                "Connections per edge: connects out (direction=out) and accepts in (direction=in).",
                kConnectionKinds},
    EdgeCounter{"nettrace_failed_connects_total", "Connects that failed, per edge.", kFailedKinds},
    EdgeCounter{"nettrace_existing_connections_total",
                "Connections per edge that were already established when nettrace started.",
                kExistingKinds},
    EdgeCounter{"nettrace_closed_connections_total",
                "Connections per edge that ended (the close of a connect, accept or existing one).",
                kClosedKinds},
};

void append_uint(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

void head(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
  out.append(name).append(" ").append(type).append("\n");
}

void sample(std::string& out, std::string_view name, uint64_t v) {
  out.append(name).append(" ");
  append_uint(out, v);
  out.append("\n");
}

void edge_labels(std::string& out, const EdgeKey& k) {
  out.append("{comm=\"");
  append_label_value(out, k.comm);
  out.append("\",direction=\"").append(k.direction == Side::Out ? "out" : "in");
  out.append("\",server_addr=\"");
  append_ip(out, k.server_addr);
  out.append("\",server_port=\"");
  append_uint(out, k.server_port);
  if (k.via_addr.family) {
    // Only on translated edges: the series of every other edge stay as
    // they were. An address:port, bracketed for IPv6, as the lines write it.
    out.append("\",via=\"");
    append_endpoint(out, Endpoint{k.via_addr, k.via_port});
  }
  out.append("\"}");
}

} // namespace

std::span<const EdgeCounter> edge_counters() {
  return kEdgeCounters;
}

void append_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\')
      out.append("\\\\");
    else if (c == '"')
      out.append("\\\"");
    else if (c == '\n')
      out.append("\\n");
    else
      out.push_back(c);
  }
}

std::string exposition(const MetricsSnapshot& s) {
  std::string out;
  out.reserve(256 + s.edges.size() * 2 * 120);
  for (const EdgeCounter& c : kEdgeCounters) {
    head(out, c.metric, "counter", c.help);
    for (const auto& [key, stats] : s.edges) {
      uint64_t n = 0;
      bool any = false;
      for (RecordType t : c.kinds) {
        // A connect is never counted on an "in" edge and an accept never on
        // an "out" one: the kind's side is the edge's direction.
        // A kind whose side comes from each record (existing) counts on the
        // edges its records made.
        const Side side = kind_info(t).side;
        any = any ||
              (side == Side::FromRecord ? stats.by_kind[size_t(t)] > 0 : side == key.direction);
        n += stats.by_kind[size_t(t)];
      }
      if (!any)
        continue;
      out.append(c.metric);
      edge_labels(out, key);
      out.append(" ");
      append_uint(out, n);
      out.append("\n");
    }
  }
  // What close records add: bytes each way, the open gauge, the durations.
  head(out, "nettrace_bytes_total", "counter",
       "Payload bytes of the connections that closed, per edge: way=sent is what this host's "
       "process sent, way=received what it received.");
  for (const auto& [key, stats] : s.edges) {
    for (const auto& [way, n] : {std::pair<const char*, uint64_t>{"received", stats.bytes_received},
                                 {"sent", stats.bytes_sent}}) {
      out.append("nettrace_bytes_total");
      edge_labels(out, key);
      out.pop_back(); // the label set's '}'
      out.append(",way=\"").append(way).append("\"} ");
      append_uint(out, n);
      out.append("\n");
    }
  }
  head(out, "nettrace_open_connections", "gauge",
       "Connections open now per edge: made or existing, not yet closed.");
  for (const auto& [key, stats] : s.edges) {
    out.append("nettrace_open_connections");
    edge_labels(out, key);
    out.append(" ");
    append_uint(out, stats.open);
    out.append("\n");
  }
  head(out, "nettrace_connection_duration_seconds", "histogram",
       "How long the connections that closed lived, per edge (ESTABLISHED to CLOSE).");
  for (const auto& [key, stats] : s.edges) {
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= kDurationBucketsS.size(); ++b) {
      cumulative += stats.duration_buckets[b];
      out.append("nettrace_connection_duration_seconds_bucket");
      edge_labels(out, key);
      out.pop_back();
      char le[32];
      if (b < kDurationBucketsS.size())
        std::snprintf(le, sizeof le, "%g", kDurationBucketsS[b]);
      else
        std::snprintf(le, sizeof le, "+Inf");
      out.append(",le=\"").append(le).append("\"} ");
      append_uint(out, cumulative);
      out.append("\n");
    }
    char sum[40];
    std::snprintf(sum, sizeof sum, "%.9g", stats.duration_sum_s);
    out.append("nettrace_connection_duration_seconds_sum");
    edge_labels(out, key);
    out.append(" ").append(sum).append("\n");
    out.append("nettrace_connection_duration_seconds_count");
    edge_labels(out, key);
    out.append(" ");
    append_uint(out, stats.duration_count);
    out.append("\n");
  }
  const ServeHealth& h = s.health;
  head(out, "nettrace_edge_overflow_total", "counter",
       "Records that found no room for their edge's series (--serve-max-edges reached), by kind.");
  for (const KindInfo& k : kinds())
    if (k.connection) {
      out.append("nettrace_edge_overflow_total{kind=\"").append(k.name).append("\"} ");
      append_uint(out, h.overflow[size_t(k.type)]);
      out.append("\n");
    }
  head(out, "nettrace_events_total", "counter", "Records nettrace received, by kind.");
  for (const KindInfo& k : kinds()) {
    out.append("nettrace_events_total{kind=\"").append(k.name).append("\"} ");
    append_uint(out, h.events[size_t(k.type)]);
    out.append("\n");
  }
  head(out, "nettrace_lost_events_total", "counter",
       "Events the kernel could not deliver (BPF ring buffer full).");
  sample(out, "nettrace_lost_events_total", h.lost_events);
  if (h.missed_known) {
    head(out, "nettrace_skipped_hook_runs_total", "counter",
         "Runs of nettrace's BPF programs the kernel skipped (recursion protection).");
    sample(out, "nettrace_skipped_hook_runs_total", h.missed);
  }
  head(out, "nettrace_ringbuf_size_bytes", "gauge", "Size of the BPF ring buffer.");
  sample(out, "nettrace_ringbuf_size_bytes", h.ringbuf_bytes);
  if (h.ring_use_known) {
    // Now (at the scrape, between drains) and the fullest seen at a drain
    // since start: the peak against the size is how close it came to losing.
    head(out, "nettrace_ringbuf_used_bytes", "gauge",
         "Bytes waiting in the BPF ring buffer at this scrape.");
    sample(out, "nettrace_ringbuf_used_bytes", h.ring_used);
    head(out, "nettrace_ringbuf_peak_used_bytes", "gauge",
         "The most bytes seen waiting in the BPF ring buffer at a drain since start.");
    sample(out, "nettrace_ringbuf_peak_used_bytes", h.ring_peak);
  }
  head(out, "nettrace_edges", "gauge", "Edges with series now.");
  sample(out, "nettrace_edges", s.edges.size());
  head(out, "nettrace_remembered_connections", "gauge",
       "Connections kept for /api/connections and /api/graph.");
  sample(out, "nettrace_remembered_connections", s.connections);
  head(out, "nettrace_ring_records", "gauge", "Records kept for /api/events.");
  sample(out, "nettrace_ring_records", s.ring);
  head(out, "nettrace_map_evictions_total", "counter",
       "Entries forgotten: idle edges and connections (reason=expired), connections and ring "
       "records pushed out for room (reason=full).");
  out.append("nettrace_map_evictions_total{map=\"edges\",reason=\"expired\"} ");
  append_uint(out, h.edges_expired);
  out.append("\nnettrace_map_evictions_total{map=\"connections\",reason=\"expired\"} ");
  append_uint(out, h.connections_expired);
  out.append("\nnettrace_map_evictions_total{map=\"connections\",reason=\"full\"} ");
  append_uint(out, h.connections_evicted);
  out.append("\nnettrace_map_evictions_total{map=\"events\",reason=\"full\"} ");
  append_uint(out, h.ring_evicted);
  out.append("\n");
  head(out, "nettrace_http_rejected_total", "counter",
       "HTTP clients refused or cut: too many at once, too slow, or a bad request.");
  out.append("nettrace_http_rejected_total{reason=\"too_many\"} ");
  append_uint(out, h.http_refused);
  out.append("\nnettrace_http_rejected_total{reason=\"timeout\"} ");
  append_uint(out, h.http_timeouts);
  out.append("\nnettrace_http_rejected_total{reason=\"bad_request\"} ");
  append_uint(out, h.http_bad);
  out.append("\n");
  return out;
}

void append_scrape_duration(std::string& out, double seconds) {
  head(out, "nettrace_scrape_duration_seconds", "gauge",
       "Time this scrape took to gather and write, before sending.");
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9f", seconds);
  out.append("nettrace_scrape_duration_seconds ").append(buf).append("\n");
}

} // namespace nt
