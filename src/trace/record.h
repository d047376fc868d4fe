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
  Close,    // a reported connection ended (duration, bytes, who closed it)
  Open,     // a reported connection still open when nettrace ended
  Evicted,  // owners pushed out of the kernel's full owner map
  Existing, // a connection already established when tracing started (snapshot)
  Snapshot, // marker: this many existing connections follow
  // NAT (issue 16): "# nat ..." after a connection line, its translation
  // (arrow only; JSON carries the nat_* fields on the connection itself).
  Nat,
};

// Which end of a connection a record is, seen from the traced host.
enum class Side : uint8_t {
  None,       // not a connection end (lost), or not known (a close without owner)
  Out,        // this host connected out: "<-", JSON "direction":"out"
  In,         // a peer connected in: "->", JSON "direction":"in"
  FromRecord, // kinds table only: the record's own `side` says (close, open, existing)
};

// Who ended a connection (Close records; bpf/nettrace_event.h enum nt_closed_by).
enum class ClosedBy : uint8_t {
  Unknown,
  Local,      // this side sent the first FIN
  Peer,       // the peer's FIN came first
  LocalReset, // this side aborted (SO_LINGER 0, unread data)
  PeerReset,  // the peer sent a reset
  Error,      // the kernel gave up (timeout, abort); `error` holds the errno
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
  int32_t error = 0;  // Failed: positive errno, 0 = unknown
  uint64_t lost = 0;  // Lost: number of events lost
  std::string host;   // JSON "host" field; empty = not given
  uint64_t count = 0; // Snapshot: existing connections that follow
  // Kinds whose side comes from the record (close, open, existing): Out or
  // In, None when the owner is unknown (a close without owner).
  Side side = Side::None;
  // Close and Open: the connection's life (see bpf/nettrace_event.h
  // struct nt_close_event).
  bool owner_evicted = false; // the owner was lost (owner map full): pid 0
  ClosedBy closed_by = ClosedBy::Unknown;
  uint64_t duration_ns = 0;
  uint64_t bytes_sent = 0, bytes_received = 0; // payload bytes
  uint32_t retransmits = 0;
  uint32_t srtt_us = 0;
  uint32_t last_pid = 0; // the process that closed it; 0 = not in process context
  std::string last_comm; // raw bytes, like comm
  uint64_t evicted = 0;  // Evicted: number of owners evicted
  // Identity (issue 13): what makes the process unique and recognisable.
  // Connection kinds only; JSON omits the empty ones (0, ""). ppid and
  // start_ns come from the kernel with every event; the rest from /proc on
  // the first sight of the process (src/tracer/identity.h).
  uint32_t ppid = 0;     // the parent's pid
  uint64_t start_ns = 0; // process start, CLOCK_BOOTTIME ns: (pid, start_ns) is unique
  std::string exe;       // readlink /proc/PID/exe; raw bytes, escaped like comm
  std::string cmdline;   // arguments joined by spaces, bounded; raw bytes
  std::string cgroup;    // cgroup v2 path ("/system.slice/foo.service")
  std::string container; // container id parsed from cgroup (docker, CRI, podman)
  std::string pod;       // Kubernetes pod UID parsed from cgroup
  std::string pod_qos;   // "guaranteed", "burstable" or "besteffort"
  std::string unit;      // systemd unit parsed from cgroup ("foo.service")
  // --- NAT (issue 16): the connection as the other end sees it, from the
  // conntrack entry (nettrace --nat). Family 0 = not translated (or not
  // known). On connect, accept and existing records, and on a Nat marker.
  // nat_remote: the peer's own address: a connect's destination after DNAT
  // (the serving socket), an accept's client before SNAT (masquerade).
  // nat_local: this end as the peer sees it: a connect's source after SNAT,
  // an accept's address the client asked for (before DNAT: the service).
  Endpoint nat_remote, nat_local;
  bool has_nat() const { return nat_remote.ip.family != 0 || nat_local.ip.family != 0; }
};

} // namespace nt
