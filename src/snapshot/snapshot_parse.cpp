#include "snapshot/snapshot_parse.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/types.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <tuple>

#include "snapshot_iter.h"

namespace nt::snap {

namespace {

// Reads a T from possibly unaligned bytes (a recv() buffer).
template <typename T> T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

Endpoint endpoint_of(uint8_t family, const __be32 (&addr)[4], __be16 port) {
  Endpoint e;
  e.ip.family = family == AF_INET ? 4 : 6;
  std::memcpy(e.ip.bytes.data(), addr, family == AF_INET ? 4 : 16);
  e.port = uint16_t((uint16_t(reinterpret_cast<const uint8_t*>(&port)[0]) << 8) |
                    reinterpret_cast<const uint8_t*>(&port)[1]);
  unmap_v4(e.ip);
  return e;
}

template <typename T> std::optional<T> to_number(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty())
    return std::nullopt;
  return v;
}

// The line of `text` that starts with `prefix`, without the prefix.
std::optional<std::string_view> line_after(std::string_view text, std::string_view prefix) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos)
      end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.starts_with(prefix))
      return line.substr(prefix.size());
    pos = end + 1;
  }
  return std::nullopt;
}

} // namespace

DiagBatch parse_diag_batch(std::span<const uint8_t> bytes, std::vector<DiagSocket>& out) {
  size_t off = 0;
  while (off + sizeof(nlmsghdr) <= bytes.size()) {
    const auto h = load<nlmsghdr>(bytes.data() + off);
    if (h.nlmsg_len < sizeof(nlmsghdr) || h.nlmsg_len > bytes.size() - off)
      return {DiagBatch::Error, EBADMSG};
    const uint8_t* payload = bytes.data() + off + NLMSG_HDRLEN;
    const size_t payload_len = h.nlmsg_len - std::min<size_t>(h.nlmsg_len, NLMSG_HDRLEN);
    if (h.nlmsg_type == NLMSG_DONE)
      return {DiagBatch::Done, 0};
    if (h.nlmsg_type == NLMSG_ERROR) {
      if (payload_len < sizeof(int))
        return {DiagBatch::Error, EBADMSG};
      // The kernel sends -errno; anything outside 1..4095 either way (INT_MIN
      // cannot even be negated) is a broken message, not an errno.
      const int err = load<int>(payload);
      const int64_t e = err < 0 ? -int64_t(err) : int64_t(err);
      return {DiagBatch::Error, e >= 1 && e <= 4095 ? int(e) : EBADMSG};
    }
    if (h.nlmsg_type == SOCK_DIAG_BY_FAMILY) {
      if (payload_len < sizeof(inet_diag_msg))
        return {DiagBatch::Error, EBADMSG};
      const auto m = load<inet_diag_msg>(payload);
      if (m.idiag_family != AF_INET && m.idiag_family != AF_INET6)
        return {DiagBatch::Error, EBADMSG};
      DiagSocket s;
      s.state = m.idiag_state;
      s.local = endpoint_of(m.idiag_family, m.id.idiag_src, m.id.idiag_sport);
      s.remote = endpoint_of(m.idiag_family, m.id.idiag_dst, m.id.idiag_dport);
      s.inode = m.idiag_inode;
      s.cookie = uint64_t(m.id.idiag_cookie[0]) | uint64_t(m.id.idiag_cookie[1]) << 32;
      out.push_back(s);
    }
    // Other types (NLMSG_NOOP...) carry nothing for us.
    off += NLMSG_ALIGN(h.nlmsg_len);
  }
  if (off < bytes.size())
    return {DiagBatch::Error, EBADMSG}; // a torn header
  return {DiagBatch::More, 0};
}

uint64_t parse_socket_link(std::string_view target) {
  constexpr std::string_view prefix = "socket:[";
  if (!target.starts_with(prefix) || !target.ends_with(']'))
    return 0;
  return to_number<uint64_t>(target.substr(prefix.size(), target.size() - prefix.size() - 1))
      .value_or(0);
}

std::optional<uint32_t> parse_status_uid(std::string_view status) {
  auto rest = line_after(status, "Uid:");
  if (!rest)
    return std::nullopt;
  std::string_view s = *rest;
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos)
    return std::nullopt;
  s.remove_prefix(b);
  return to_number<uint32_t>(s.substr(0, s.find_first_of(" \t")));
}

std::optional<std::string_view> parse_cgroup_v2_path(std::string_view cgroup) {
  auto path = line_after(cgroup, "0::");
  if (!path || !path->starts_with('/'))
    return std::nullopt;
  return path;
}

std::optional<std::string> parse_cgroup2_mount(std::string_view mountinfo) {
  // "36 25 0:31 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw"
  size_t pos = 0;
  while (pos < mountinfo.size()) {
    size_t end = mountinfo.find('\n', pos);
    if (end == std::string_view::npos)
      end = mountinfo.size();
    std::string_view line = mountinfo.substr(pos, end - pos);
    pos = end + 1;
    const size_t sep = line.find(" - ");
    if (sep == std::string_view::npos || !line.substr(sep + 3).starts_with("cgroup2 "))
      continue;
    // Fields: id, parent, major:minor, root, mount point.
    size_t f = 0;
    for (int i = 0; i < 4 && f != std::string_view::npos; ++i) {
      f = line.find(' ', f);
      if (f != std::string_view::npos)
        ++f;
    }
    if (f == std::string_view::npos || f >= sep)
      continue;
    std::string_view raw = line.substr(f, line.find(' ', f) - f);
    std::string point;
    for (size_t i = 0; i < raw.size(); ++i) {
      // The kernel escapes space, tab, newline and backslash as \ooo.
      if (raw[i] == '\\' && i + 3 < raw.size()) {
        auto code = raw.substr(i + 1, 3);
        if (std::all_of(code.begin(), code.end(), [](char c) { return c >= '0' && c <= '7'; })) {
          point += char((code[0] - '0') * 64 + (code[1] - '0') * 8 + (code[2] - '0'));
          i += 3;
          continue;
        }
      }
      point += raw[i];
    }
    if (point.starts_with('/'))
      return point;
  }
  return std::nullopt;
}

std::string_view parse_comm(std::string_view comm_file) {
  if (comm_file.ends_with('\n'))
    comm_file.remove_suffix(1);
  return comm_file;
}

bool SocketFilter::wants(const DiagSocket& s, RecordType type, uint32_t netns_inode) const {
  if (direction == Direction::Out && type != RecordType::Connect)
    return false;
  if (direction == Direction::In && type != RecordType::Accept)
    return false;
  if (family != 0 && s.local.ip.family != family)
    return false;
  if (netns != 0 && netns_inode != netns)
    return false;
  if (!ports.empty() && std::none_of(ports.begin(), ports.end(), [&](uint16_t p) {
        return p == s.local.port || p == s.remote.port;
      }))
    return false;
  return true;
}

SocketFilter socket_filter_of(const TracerOptions& o) {
  SocketFilter f;
  f.ports = o.ports;
  f.family = o.family;
  f.direction = o.direction;
  f.netns = o.netns;
  return f;
}

ProcessFilter process_filter_of(const TracerOptions& o) {
  ProcessFilter f;
  f.pid = o.pid;
  f.uid = o.uid;
  f.comm = o.comm;
  return f;
}

static_assert(sizeof(nt_snap_rec) == 112, "bpf/snapshot_iter.h changed: update the parser");
static_assert(offsetof(nt_snap_rec, start_ns) == 96 && offsetof(nt_snap_rec, ppid) == 104);
static_assert(offsetof(nt_snap_rec, laddr) == 40);
static_assert(offsetof(nt_snap_rec, lport) == 72);
static_assert(offsetof(nt_snap_rec, comm) == 80);

size_t iter_record_size() {
  return sizeof(nt_snap_rec);
}

size_t parse_iter_records(std::span<const uint8_t> bytes, std::vector<IterSocket>& out) {
  size_t off = 0;
  for (; off + sizeof(nt_snap_rec) <= bytes.size(); off += sizeof(nt_snap_rec)) {
    const auto r = load<nt_snap_rec>(bytes.data() + off);
    if (r.family != AF_INET && r.family != AF_INET6)
      continue;
    IterSocket it;
    it.s.state = r.state;
    for (auto [e, a, port] :
         {std::tuple{&it.s.local, r.laddr, r.lport}, std::tuple{&it.s.remote, r.raddr, r.rport}}) {
      e->ip.family = r.family == AF_INET ? 4 : 6;
      std::memcpy(e->ip.bytes.data(), a, r.family == AF_INET ? 4 : 16);
      e->port = port;
      unmap_v4(e->ip);
    }
    it.s.inode = r.inode;
    it.s.cookie = r.cookie;
    it.pid = r.pid;
    it.fd = int32_t(r.fd);
    it.uid = r.uid;
    it.netns = r.netns;
    it.cgroup_id = r.cgroup_id;
    it.comm.assign(r.comm, strnlen(r.comm, sizeof r.comm));
    it.start_ns = r.start_ns;
    it.ppid = r.ppid;
    out.push_back(std::move(it));
  }
  return off;
}

} // namespace nt::snap
