// The pure parts of the snapshot (snapshot.h): the parsers of what it reads
// from the kernel (netlink inet_diag replies, /proc text), the direction
// inference, the owner rule and the filters. No I/O and no globals, so unit
// tests and fuzzers drive them with bytes.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trace/record.h"
#include "tracer/options.h"

namespace nt::snap {

// include/net/tcp_states.h
inline constexpr uint8_t kTcpEstablished = 1;
inline constexpr uint8_t kTcpListen = 10;

// One socket from an inet_diag dump, addresses as nettrace prints them
// (IPv4-mapped IPv6 unmapped).
struct DiagSocket {
  uint8_t state = 0; // kTcp*
  Endpoint local;
  Endpoint remote;
  uint64_t inode = 0;  // 0: no struct socket (still in an accept queue)
  uint64_t cookie = 0; // idiag_cookie
};

// What one recv() of a NLM_F_DUMP reply said.
struct DiagBatch {
  enum Status { More, Done, Error } status = More;
  int error = 0; // Error: positive errno (from NLMSG_ERROR, or EBADMSG if malformed)
};

// Appends every inet_diag_msg in `bytes` (whole netlink messages, as one
// recv() returns them) to `out`. Done at NLMSG_DONE; Error at NLMSG_ERROR or
// at bytes that are not well-formed netlink.
DiagBatch parse_diag_batch(std::span<const uint8_t> bytes, std::vector<DiagSocket>& out);

// The inode in a /proc/PID/fd link target "socket:[12345]"; 0 for any other
// target (files, pipes, anon inodes) or a malformed one.
uint64_t parse_socket_link(std::string_view target);

// The real uid (first field of the "Uid:" line) of /proc/PID/status, which is
// what the BPF programs report (bpf_get_current_uid_gid()).
std::optional<uint32_t> parse_status_uid(std::string_view status);

// The cgroup v2 path of /proc/PID/cgroup (its "0::/path" line).
std::optional<std::string_view> parse_cgroup_v2_path(std::string_view cgroup);

// Where cgroup v2 is mounted, from /proc/self/mountinfo (the mount point of
// the first "cgroup2" line, octal escapes such as \040 decoded). A hybrid
// host has it at /sys/fs/cgroup/unified, a unified one at /sys/fs/cgroup.
std::optional<std::string> parse_cgroup2_mount(std::string_view mountinfo);

// /proc/PID/comm: the name without the newline the kernel appends.
std::string_view parse_comm(std::string_view comm_file);

// The local ports that LISTEN sockets of one network namespace hold.
class ListenPorts {
public:
  void add(uint16_t port) { ports_.set(port); }
  bool holds(uint16_t port) const { return ports_.test(port); }
  void clear() { ports_.reset(); }

private:
  std::bitset<65536> ports_;
};

// Accepted when a LISTEN socket of the same network namespace holds the local
// port, else connected. Wrong only for an accepted connection that outlived
// its listener (then Connect), and for a client that bound the port of a
// listener with SO_REUSEPORT (then Accept).
inline RecordType infer_direction(const ListenPorts& listening, uint16_t local_port) {
  return listening.holds(local_port) ? RecordType::Accept : RecordType::Connect;
}

// The holders of one socket, fed descriptor by descriptor, one process's
// descriptors together. Owner rule: the lowest (pid, fd) among the eligible
// holders (those that pass the process filters); every holding process,
// eligible or not, is counted once.
struct Holders {
  uint32_t owner_pid = 0;
  int32_t owner_fd = -1;
  uint32_t processes = 0; // distinct processes seen holding it
  uint32_t last_pid = 0;

  bool has_owner() const { return owner_fd >= 0; }
  uint32_t others() const { return processes > 0 ? processes - 1 : 0; }
  void add(uint32_t pid, int32_t fd, bool eligible) {
    if (processes == 0 || pid != last_pid) {
      ++processes;
      last_pid = pid;
    }
    if (eligible && (!has_owner() || pid < owner_pid || (pid == owner_pid && fd < owner_fd))) {
      owner_pid = pid;
      owner_fd = fd;
    }
  }
};

// The filters of TracerOptions, split by what they look at.
struct SocketFilter {
  std::vector<uint16_t> ports; // any, local or remote; empty = all
  int family = 0;              // 4 or 6 as printed; 0 = all
  Direction direction = Direction::Both;
  uint32_t netns = 0;
  bool wants(const DiagSocket& s, RecordType type, uint32_t netns_inode) const;
};

struct ProcessFilter {
  uint32_t pid = 0;
  std::optional<uint32_t> uid;
  std::string comm;
  uint64_t cgroup_id = 0;
  // Whether the filter needs the process's details before it can say.
  bool needs_details() const { return uid.has_value() || !comm.empty() || cgroup_id != 0; }
  bool wants_pid(uint32_t p) const { return pid == 0 || p == pid; }
  bool wants(uint32_t p, uint32_t u, std::string_view c, uint64_t cgroup) const {
    return wants_pid(p) && (!uid || *uid == u) && (comm.empty() || comm == c) &&
           (cgroup_id == 0 || cgroup_id == cgroup);
  }
};

SocketFilter socket_filter_of(const TracerOptions& o);
// cgroup_id stays 0: resolving cgroup_path needs the file system (snapshot.cpp).
ProcessFilter process_filter_of(const TracerOptions& o);

} // namespace nt::snap

namespace nt::snap {

// One record of the BPF iterator (bpf/snapshot_iter.h): a TCP socket in
// ESTABLISHED or LISTEN state in a descriptor of process `pid`.
struct IterSocket {
  DiagSocket s; // state, addresses (unmapped), inode, cookie
  uint32_t pid = 0;
  int32_t fd = -1;
  uint32_t uid = 0;
  uint32_t netns = 0;
  uint64_t cgroup_id = 0;
  std::string comm;
  uint64_t start_ns = 0; // the process's start (bpf/snapshot_iter.h)
  uint32_t ppid = 0;
};

// Size of one iterator record.
size_t iter_record_size();

// Parses the whole records at the start of `bytes` (what read() of the
// iterator returned; a record is never split across reads, but callers keep
// any tail anyway) into `out`, and says how many bytes they took. A record
// with a family other than AF_INET/AF_INET6 is skipped.
size_t parse_iter_records(std::span<const uint8_t> bytes, std::vector<IterSocket>& out);

} // namespace nt::snap
