// What a tracing session is asked to do. Filled by the CLI (cli.h) or by a
// program using the library directly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace nt {

enum class Direction : uint8_t { Both, Out, In };

struct TracerOptions {
  std::string backend = "auto"; // auto | fentry | kprobe | tracepoint
  // Filters, applied in the kernel. Unset = everything.
  uint32_t pid = 0;
  std::optional<uint32_t> uid;
  std::string comm;  // exact process name (at most 15 bytes, as the kernel keeps)
  uint16_t port = 0; // local or remote
  int family = 0;    // 0, 4 or 6
  Direction direction = Direction::Both;
  uint32_t netns = 0;
  std::string cgroup_path;          // cgroup v2 directory
  uint32_t ringbuf_size = 1u << 22; // bytes, a power of two and page multiple
  int drain_interval_ms = 10;       // how often the ring buffer is drained
  bool verbose = false;             // libbpf's log and probing details on stderr
};

} // namespace nt
