// The decoded form of one trace line, shared by nettrace (which formats it) and
// netgraph (which parses it). Pure data: no I/O here.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace nt {

enum class RecordType : uint8_t {
  Connect,  // this host connected out (arrow "<-")
  Accept,   // a peer connected in (arrow "->")
  Failed,   // a connect that failed (never a connection)
  Lost,     // events the kernel could not deliver (ring buffer full)
  Existing, // a connection already established when tracing started (snapshot)
  Snapshot, // marker: this many existing connections follow
};

struct IpAddr {
  uint8_t family = 0;              // 4 or 6; 0 = unset
  std::array<uint8_t, 16> bytes{}; // network order; IPv4 uses bytes[0..3]
  bool operator==(const IpAddr&) const = default;
};

// True for an IPv4 address carried in IPv6 (::ffff:a.b.c.d), as a dual-stack
// socket holds its IPv4 peers.
inline bool is_v4_mapped(const IpAddr& ip) {
  static constexpr uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return ip.family == 6 && std::memcmp(ip.bytes.data(), prefix, sizeof prefix) == 0;
}

// The one normalisation of IPv4-mapped IPv6: the IPv4 address it carries, so
// both ends of a dual-stack connection print, filter and pair as the IPv4 peer
// they are. Anything else is left as it is. Inline: parsing and the graph call
// it once per address.
inline void unmap_v4(IpAddr& ip) {
  if (!is_v4_mapped(ip))
    return;
  std::memmove(ip.bytes.data(), ip.bytes.data() + 12, 4);
  std::memset(ip.bytes.data() + 4, 0, 12);
  ip.family = 4;
}

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
  // Kinds whose side comes from the record (Existing): a peer connected in.
  bool inbound = false;
  uint64_t count = 0; // Snapshot: existing connections that follow
  std::string host;   // JSON "host" field; empty = not given
};

} // namespace nt
