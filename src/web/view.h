// The live page's model: what the browser is sent (GET /api/view, and each
// event of /api/view/stream) about a set of trace records or a finished
// Graph. Pure logic, no I/O: records in, one JSON document out. The page
// (src/web/page/) draws it; nettrace --serve and netgraph --serve both build
// it here, so they show the same thing.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "graph/graph.h"
#include "graph/present.h"
#include "trace/record.h"

namespace nt {

// Who a process is, as far as the records say. Strings are as the lines
// write them (escaped ASCII); empty (or 0) when not known.
struct Identity {
  uint32_t pid = 0, ppid = 0;
  uint64_t start_ns = 0;
  std::string comm, exe, cmdline, container, pod, unit;
};

// The identity fields a record carries (issue 13). The one place a record's
// identity is read: what is copied here reaches every node, label and detail
// of the page.
Identity identity_of(const Record& r);

// How a node is named on the page: `label` is the name a person knows it by
// (the executable's name where the kernel's 15-byte comm cut it, else comm;
// an outside peer's address), `sublabel` what tells it apart (pid, or the
// number of processes; then pod, container or unit). The one place the page's
// names are chosen.
struct NodeLabel {
  std::string label, sublabel;
};
NodeLabel node_label(const Node& n, const Identity& id);

struct ViewOptions {
  std::string source;  // "nettrace --serve", "netgraph --serve": shown in the page's title
  uint64_t now_ns = 0; // wall clock of the view (ages are counted from it); 0: the last record's
  // Live: every connection's close is reported (nettrace --serve asks the
  // kernel for closes), so a connection without one is open now.
  bool closes_known = false;
  std::optional<uint64_t> lost; // events lost, when the source counts them better than its records
  size_t max_connections_per_process = 20; // the newest, in a node's details
  GraphOptions graph;                      // grouping and filters, as netgraph's options
  PresentOptions present;
};

// Feeds records (as netgraph reads them, or nettrace --serve's ring) and
// writes the view: the Graph netgraph would draw, plus what the page's
// details need per process (identity, recent connections with bytes and age).
class ViewBuilder {
public:
  explicit ViewBuilder(ViewOptions options);
  void add(const Record& r, std::string_view host) { add(r, host, identity_of(r)); }
  void add(const Record& r, std::string_view host, const Identity& id);
  // The JSON document (ASCII). The builder is spent afterwards.
  std::string finish();

private:
  struct Conn {
    bool out = true; // connected out (else accepted)
    Endpoint local, remote;
    uint64_t ts_ns = 0, duration_ns = 0, bytes_sent = 0, bytes_received = 0;
    bool closed = false, has_bytes = false;
  };
  struct Process {
    Identity id;
    std::deque<Conn> conns; // oldest first, at most max_connections_per_process
  };
  ViewOptions options_;
  GraphBuilder graph_;
  std::map<std::pair<std::string, uint32_t>, Process> processes_; // (host, pid)
};

// The view of a Graph made elsewhere (netgraph --prometheus's fleet): no
// per-process details, the graph as it is.
std::string view_of_graph(Graph g, const ViewOptions& options);

} // namespace nt
