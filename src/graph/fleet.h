// The fleet through Prometheus: netgraph --prometheus asks a Prometheus server
// for nettrace --serve's edge counters (nettrace_connections_total, one series
// per host, process name, direction, server address and port) and draws them
// as it draws traces. The query text, the parse of Prometheus' JSON answer and
// the pairing are pure functions (unit-tested on canned answers); only
// query_prometheus() does I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "graph/graph.h"

namespace nt {

// One series of the answer: what one host's nettrace counted on one edge.
struct FleetSeries {
  std::string instance; // the scraped target: the host's cluster
  std::string comm;
  bool out = true; // direction="out" (connects); false: "in" (accepts)
  std::string server_addr;
  uint16_t server_port = 0;
  std::string via;    // NAT (nettrace --nat): the address:port the client asked for, or ""
  uint64_t count = 0; // connections in the range, rounded
};

// The PromQL that asks for the connections of the last `range` per edge and
// host. increase() is not used: it drops the first value of a series born
// inside the range (nettrace creates an edge's series at its first
// connection, so a new edge would count 0). The rise is the value at the end
// minus the value `range` ago, or the whole value for a series born since.
// `filter`: label matchers put inside the selector's braces (may be empty).
std::string fleet_query(std::string_view range, std::string_view filter);

// A Prometheus duration (1h, 30m, 1h30m, 90s, 7d): the --range check.
bool valid_prom_duration(std::string_view d);

// Parses the body of /api/v1/query. False with `error` set (one line) when the
// body is no JSON, Prometheus says "error" (its errorType and error), or the
// result is not a vector of nettrace edge series. Series counting 0 are left out.
bool parse_prometheus_answer(std::string_view body, std::vector<FleetSeries>& out,
                             std::string& error);

// Pairs the series as netgraph pairs connection ends: an "out" series to
// ADDR:PORT and the "in" series of the host whose process accepts on
// ADDR:PORT make one edge client -> server, counting the client's connections
// (a loopback ADDR pairs only within its own instance). An "out" with no "in"
// goes to an outside node ADDR; accepts beyond what the paired clients count
// come from an outside node "other clients". Nodes are (instance, comm):
// the graph is drawn as --group-by comm. no_loopback, include and exclude
// of `options` apply; the caller runs present() (which applies min_count).
Graph fleet_graph(const std::vector<FleetSeries>& series, const GraphOptions& options);

// GET URL/api/v1/query?query=QUERY with libcurl, which it loads on its first
// call (dlopen: netgraph's start does not pay for it). Returns the HTTP
// status (0 when no answer came, or libcurl cannot be loaded: `error` then
// says why, as curl does) and the body.
long query_prometheus(const std::string& url, const std::string& query, std::string& body,
                      std::string& error);

// Whether libcurl is in this process now (for the test that netgraph does
// not load it until it asks Prometheus).
bool curl_is_loaded();

} // namespace nt
