// netgraph: thin main. Everything else lives in nt_graph, which the tests link.
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>

#include "graph/netgraph_cli.h"
#include "web/graph_serve.h"

int main(int argc, char** argv) {
  // A closed stdout (netgraph | head) is an ordinary end, reported as a write error.
  std::signal(SIGPIPE, SIG_IGN);
  // What escapes the library (std::bad_alloc on a huge input, a library's own
  // exception) ends as one line and its own exit code, not as std::terminate.
  try {
    nt::NetgraphConfig config;
    if (auto code = nt::parse_netgraph_cli(argc, argv, config, std::cout, std::cerr))
      return *code;
    return config.serve.empty() ? nt::run_netgraph(config) : nt::run_netgraph_serve(config);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "netgraph: internal error: %s\n", e.what());
    return nt::kNgInternal;
  }
}
