// Graph output: DOT through libcgraph, PNG/SVG/PDF through libgvc, and JSON.
#pragma once

#include <cstdio>
#include <string>

#include "graph/graph.h"

namespace nt {

// Writes DOT to `out`. Returns false on a write error.
bool write_dot(const Graph& g, FILE* out);
// Renders with Graphviz's dot layout in `format` (png, svg, pdf...) to `out`.
// Returns false with a reason in `why`; Graphviz's own messages never reach
// stderr (they are part of `why`).
bool render(const Graph& g, const std::string& format, FILE* out, std::string& why);
// The graph as one JSON document: nodes, edges, counts, stats.
std::string to_json(const Graph& g);

} // namespace nt
