// netgraph's command line and the whole program behind it, in the library so
// the tests can run it.
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/present.h"

namespace nt {

enum NetgraphExit : int {
  kNgOk = 0,
  kNgUsage = 1,      // bad option or value
  kNgInput = 2,      // cannot read an input, or a bad line under --strict
  kNgOutput = 3,     // cannot write or render the output
  kNgInternal = 4,   // anything else that escaped (out of memory, a library's exception)
  kNgPrometheus = 5, // --prometheus: no answer, an HTTP error, an error or unreadable answer
  kNgNoSeries = 6,   // --prometheus: the answer holds no nettrace edge series
  kNgServe = 7,      // --serve: cannot listen on the address (in use, not allowed)
};

struct NetgraphConfig {
  std::vector<std::string> inputs; // "-" = stdin
  std::string format = "dot";      // dot, png, svg, pdf, json
  std::string output;              // empty or "-" = stdout (every format)
  std::string host;                // host name for stdin
  // --prometheus URL: draw the fleet from a Prometheus server instead of traces.
  std::string prometheus;
  std::string range = "1h";
  std::string query_filter; // PromQL label matchers, e.g. job="nettrace"
  // --serve ADDR:PORT: serve the live page (src/web) instead of writing a
  // graph; netgraph_main runs run_netgraph_serve() (web/graph_serve.h).
  std::string serve;
  int refresh_s = 15; // --serve --prometheus: how often Prometheus is asked again
  bool strict = false;
  bool stats = false;
  std::string weight; // --weight: "", "count" or "bytes"
  GraphOptions graph;
  PresentOptions present; // collapse_clients is off with an explicit --group-by
  // SIGINT/SIGTERM while reading a stream (a pipe, a terminal) mean "finish
  // now": draw what was read, write it, exit 0. Off for tests that call
  // run_netgraph() in a process whose signals they own.
  bool finish_on_signal = true;
};

std::optional<int> parse_netgraph_cli(int argc, const char* const* argv, NetgraphConfig& config,
                                      std::ostream& out, std::ostream& err);
// --prometheus: the fleet's graph from Prometheus' answer, presented; the
// exit code (with its line on stderr) when it cannot be had.
std::optional<int> prometheus_graph(const NetgraphConfig& c, Graph& g);

// Draws the graph (not --serve: see web/graph_serve.h).
int run_netgraph(const NetgraphConfig& config);

} // namespace nt
