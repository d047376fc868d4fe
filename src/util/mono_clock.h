// CLOCK_MONOTONIC in the units callers keep their deadlines in. Header-only
// like unique_fd.h, so every library (the run loop, the HTTP server, the
// served map, the page's feed, the NAT lookups' budget) reads the one clock
// the same way.
#pragma once

#include <cstdint>
#include <ctime>

namespace nt {

inline uint64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

inline uint64_t mono_ms() {
  return mono_ns() / 1000000;
}

} // namespace nt
