// What a person sees: a pass over the finished Graph (after
// GraphBuilder::finish()) that turns the pairing's result into a picture one
// can read. Pure logic on the Graph, no I/O; the DOT/JSON writers (render.h)
// draw what it leaves.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace nt {

struct PresentOptions {
  // With GroupBy::Pid: client processes of one name on one host that only
  // connect (no edge comes in) become one node "name (N processes)".
  // netgraph's default; --group-by pid turns it off.
  bool collapse_clients = true;
  // Applied here, after collapsing, so a collapsed edge counts all of its
  // connections (the builder then runs with min_count 1).
  uint64_t min_count = 1;
};

// In this order: gives outside nodes their address as a field; draws each
// edge to or from an outside address to the one node that has that address
// as a local address (a process, with GroupBy::Pid), if exactly one has it
// (never for loopback addresses, which every process has); labels the
// outside nodes left as
// "(not traced)"; collapses clients; merges edges that became equal; drops
// edges under min_count and nodes no edge touches. Order stays first-seen.
void present(Graph& g, GroupBy group_by, const PresentOptions& options = {});

// The picture's title, line by line, plain text: what was traced where, the
// time span (when the records carry times), how many connections between
// how many processes, and "incomplete: N events lost" when so.
std::vector<std::string> title_lines(const Graph& g);

// How a node is named to a person (tooltips, the title, DOT node names):
// "curl (pid 42)", "kubectl (14 processes)", "10.0.0.1 (not traced)"...
// with " on HOST" when the graph spans several hosts. Escaped process names
// as they are (ASCII), not DOT-escaped.
std::string display_name(const Graph& g, size_t node);

// Connections on an edge in words: ":443, 12 connections".
std::string edge_words(const Edge& e);

} // namespace nt
