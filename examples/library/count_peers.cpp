// A small program on nettrace's C++ API: trace for a few seconds and count
// connections per (process, remote port). Build: part of the project
// (target count_peers); run as root: build/bin/count_peers [SECONDS].
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <string>
#include <utility>

#include "tracer/tracer.h"

int main(int argc, char** argv) {
  const int seconds = argc > 1 ? std::atoi(argv[1]) : 5;
  nt::TracerOptions options; // every connection; set options.ports etc. to filter
  std::unique_ptr<nt::Tracer> tracer;
  try {
    tracer = nt::Tracer::open(options, [](std::string_view msg) {
      std::fprintf(stderr, "%.*s\n", int(msg.size()), msg.data());
    });
  } catch (const nt::TracerError& e) {
    std::fprintf(stderr, "count_peers: %s\n", e.what());
    return e.exit_code();
  }

  std::map<std::pair<std::string, uint16_t>, int> counts;
  const std::time_t end = std::time(nullptr) + seconds;
  while (std::time(nullptr) < end) {
    tracer->poll(100, [&](const nt::Record& r) {
      if (r.type == nt::RecordType::Connect)
        ++counts[{r.comm, r.remote.port}];
      if (r.type == nt::RecordType::Accept)
        ++counts[{r.comm, r.local.port}];
    });
  }
  for (const auto& [key, n] : counts)
    std::printf("%-16s port %5u  %d\n", key.first.c_str(), key.second, n);
  std::printf("%llu events, %llu lost\n", static_cast<unsigned long long>(tracer->events()),
              static_cast<unsigned long long>(tracer->lost()));
  return 0;
}
