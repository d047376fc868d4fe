// The decoded form of one trace line, shared by nettrace (which formats it) and
// netgraph (which parses it). Pure data: no I/O here.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace nt {

enum class RecordType : uint8_t {
  Connect, // this host connected out (arrow "<-")
  Accept,  // a peer connected in (arrow "->")
  Failed,  // a connect that failed (never a connection)
  Lost,    // events the kernel could not deliver (ring buffer full)
};

struct IpAddr {
  uint8_t family = 0;              // 4 or 6; 0 = unset
  std::array<uint8_t, 16> bytes{}; // network order; IPv4 uses bytes[0..3]
  bool operator==(const IpAddr&) const = default;
};

struct Endpoint {
  IpAddr ip;
  uint16_t port = 0;
  bool operator==(const Endpoint&) const = default;
};

struct Record {
  RecordType type = RecordType::Connect;
  Endpoint local;
  Endpoint remote;
  uint32_t pid = 0;
  std::string comm; // raw bytes, unescaped (any byte but NUL)
  // Fields only JSON lines (and the kernel) carry; has_details says whether set.
  bool has_details = false;
  uint64_t time_ns = 0; // Unix epoch, nanoseconds
  uint32_t tid = 0;
  uint32_t uid = 0;
  uint32_t netns = 0; // network namespace inode, 0 = unknown
  uint64_t cgroup_id = 0;
  int32_t error = 0; // Failed: positive errno, 0 = unknown
  uint64_t lost = 0; // Lost: number of events lost
  std::string host;  // JSON "host" field; empty = not given
};

} // namespace nt
