// nettrace: thin main. Everything else lives in nt_tracer, which the tests link.
#include <cstdio>
#include <iostream>

#include "tracer/cli.h"
#include "tracer/errors.h"

int main(int argc, char** argv) {
  nt::NettraceConfig config;
  if (auto code = nt::parse_cli(argc, argv, config, std::cout, std::cerr))
    return *code;
  try {
    return nt::run_nettrace(config);
  } catch (const nt::TracerError& e) {
    std::fprintf(stderr, "nettrace: %s\n", e.what());
    return e.exit_code();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nettrace: %s\n", e.what());
    return nt::kExitRuntime;
  }
}
