// What a tracing session is asked to do. Filled by the CLI (cli.h) or by a
// program using the library directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nt {

enum class Direction : uint8_t { Both, Out, In };

// At most this many ports in TracerOptions::ports (the BPF side's NT_MAX_PORTS).
inline constexpr size_t kMaxPorts = 16;

struct TracerOptions {
  std::string backend = "auto"; // "auto" or a name in the backend table (backend_choices())
  // Filters, applied in the kernel. Unset = everything.
  uint32_t pid = 0;
  std::optional<uint32_t> uid;
  std::string comm;            // exact process name (at most 15 bytes, as the kernel keeps)
  std::vector<uint16_t> ports; // any of these, local or remote (at most kMaxPorts)
  int family = 0;              // 0, 4 or 6, of the addresses as printed
  Direction direction = Direction::Both;
  uint32_t netns = 0;
  std::string cgroup_path;          // cgroup v2 directory
  uint32_t ringbuf_size = 1u << 22; // bytes, a power of two and page multiple
  int drain_interval_ms = 10;       // how often the ring buffer is drained
  bool verbose = false;             // libbpf's log and probing details on stderr
  // Close records (and open ones at exit) with bytes: the kernel sends them
  // only when set, and only then keeps owners (so, off, nothing is known of
  // the connections open at exit: the hooks cost what they did before closes).
  bool closes = false;
  uint32_t owners_max = 65536; // connections followed at once (the owner map)
};

} // namespace nt
