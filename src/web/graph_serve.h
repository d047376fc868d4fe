// netgraph --serve ADDR:PORT: the live page (web.h) over saved traces (read
// once, one host per file) or over the fleet Prometheus holds (asked again
// every --refresh seconds), served by src/serve's HttpServer until SIGINT or
// SIGTERM.
#pragma once

#include "graph/netgraph_cli.h"

namespace nt {

// The view JSON of the traces `config.inputs` name, as netgraph would draw
// them (grouping and filters); `error` set and "" when one cannot be read.
std::string view_of_traces(const NetgraphConfig& config, std::string& error);

int run_netgraph_serve(const NetgraphConfig& config);

} // namespace nt
