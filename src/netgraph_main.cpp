// netgraph: thin main. Everything else lives in nt_graph, which the tests link.
#include <csignal>
#include <iostream>

#include "graph/netgraph_cli.h"

int main(int argc, char** argv) {
  // A closed stdout (netgraph | head) is an ordinary end, reported as a write error.
  std::signal(SIGPIPE, SIG_IGN);
  nt::NetgraphConfig config;
  if (auto code = nt::parse_netgraph_cli(argc, argv, config, std::cout, std::cerr))
    return *code;
  return nt::run_netgraph(config);
}
