#include "trace/format.h"

#include <arpa/inet.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "trace/raw_append.h"

namespace nt {
namespace {

constexpr char kHex[] = "0123456789abcdef";

template <typename T> void append_uint(std::string& out, T v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec; // 24 bytes hold any 64-bit integer
  out.append(buf, end);
}

// The one comm escaper. Arrow: printable ASCII passes, '\' -> "\\", any
// other byte -> "\xHH". JSON (Json = true): the same text, JSON-escaped on the
// fly (no temporary string), so every backslash it writes is doubled and '"'
// gets one.
template <bool Json> void escape_comm(std::string& out, std::string_view raw) {
  constexpr std::string_view bs = Json ? "\\\\" : "\\";
  // Most names need no escape: one append.
  bool plain = true;
  for (unsigned char c : raw)
    plain &= c >= 0x20 && c < 0x7f && c != '\\' && (!Json || c != '"');
  if (plain) {
    out.append(raw);
    return;
  }
  for (unsigned char c : raw) {
    if (c == '\\') {
      out.append(bs);
      out.append(bs);
    } else if (Json && c == '"') {
      out.append("\\\"");
    } else if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      out.append(bs);
      out.push_back('x');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
}

} // namespace

void append_json_comm(std::string& out, std::string_view raw) {
  escape_comm<true>(out, raw);
}

void append_escaped_comm(std::string& out, std::string_view raw) {
  escape_comm<false>(out, raw);
}

bool unescape_comm(std::string_view s, std::string& out) {
  out.clear();
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (i + 1 >= s.size())
      return false;
    if (s[i + 1] == '\\') {
      out.push_back('\\');
      ++i;
    } else if (s[i + 1] == 'x' && i + 3 < s.size()) {
      int hi = hex_digit_value(s[i + 2]), lo = hex_digit_value(s[i + 3]);
      if (hi < 0 || lo < 0)
        return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 3;
    } else {
      return false;
    }
  }
  return true;
}

namespace {

// Room an address takes at most: INET6_ADDRSTRLEN (46) holds inet_ntop's
// longest answer and its NUL; an endpoint adds "[", "]:" and five digits.
constexpr size_t kIpRoom = INET6_ADDRSTRLEN;
constexpr size_t kEndpointRoom = kIpRoom + 8;

// Each octet's digits and their count, so that a dotted quad is four copies
// of four bytes (the room after an address always holds them) instead of
// four conversions: an arrow line has four octets per end.
struct OctetText {
  std::array<std::array<char, 4>, 256> t{};
  constexpr OctetText() {
    for (unsigned v = 0; v < 256; ++v) {
      unsigned n = 0;
      if (v >= 100)
        t[v][n++] = char('0' + v / 100);
      if (v >= 10)
        t[v][n++] = char('0' + v / 10 % 10);
      t[v][n++] = char('0' + v % 10);
      t[v][3] = char(n);
    }
  }
};
constexpr OctetText kOctets;

void put_ip(RawAppend& w, const IpAddr& ip) {
  if (ip.family == 4 || is_v4_mapped(ip)) {
    const uint8_t* b = ip.family == 4 ? ip.bytes.data() : ip.bytes.data() + 12;
    for (int i = 0; i < 4; ++i) {
      const auto& o = kOctets.t[b[i]];
      std::memcpy(w.at(), o.data(), 4);
      w.advance(size_t(o[3]));
      if (i < 3)
        w.ch('.');
    }
    return;
  }
  if (ip.family == 6 && inet_ntop(AF_INET6, ip.bytes.data(), w.at(), socklen_t(w.room()))) {
    w.advance(std::strlen(w.at()));
    return;
  }
  w.ch('?');
}

void put_endpoint(RawAppend& w, const Endpoint& ep) {
  const bool bracket = ep.ip.family == 6 && !is_v4_mapped(ep.ip);
  if (bracket)
    w.ch('[');
  put_ip(w, ep.ip);
  if (bracket)
    w.ch(']');
  w.ch(':');
  w.uint(ep.port);
}

} // namespace

void append_ip(std::string& out, const IpAddr& ip) {
  RawAppend w(out, kIpRoom);
  put_ip(w, ip);
}

void append_endpoint(std::string& out, const Endpoint& ep) {
  RawAppend w(out, kEndpointRoom);
  put_endpoint(w, ep);
}

std::string_view errno_name(int err) {
  switch (err) {
  case ECONNREFUSED:
    return "ECONNREFUSED";
  case ETIMEDOUT:
    return "ETIMEDOUT";
  case EHOSTUNREACH:
    return "EHOSTUNREACH";
  case ENETUNREACH:
    return "ENETUNREACH";
  case ECONNRESET:
    return "ECONNRESET";
  case ECONNABORTED:
    return "ECONNABORTED";
  case EADDRNOTAVAIL:
    return "EADDRNOTAVAIL";
  case EADDRINUSE:
    return "EADDRINUSE";
  case EACCES:
    return "EACCES";
  case EPERM:
    return "EPERM";
  case EINTR:
    return "EINTR";
  case EAGAIN:
    return "EAGAIN";
  case ENOBUFS:
    return "ENOBUFS";
  case EHOSTDOWN:
    return "EHOSTDOWN";
  case ENETDOWN:
    return "ENETDOWN";
  case EPROTO:
    return "EPROTO";
  default:
    return "";
  }
}

void append_arrow(std::string& out, const Record& r) {
  const KindInfo& k = kind_info(r.type);
  if (k.arrow != ArrowForm::Line) {
    out.append("# ");
    out.append(k.name);
    out.push_back(' ');
    if (k.append_args)
      k.append_args(out, r);
    if (k.arrow == ArrowForm::Marker) {
      out.push_back('\n');
      return;
    }
    out.push_back(' ');
  }
  {
    // Two endpoints, the arrow, "|PID=", ten digits, " CMD=".
    RawAppend w(out, 2 * kEndpointRoom + 2 + 5 + 10 + 5);
    put_endpoint(w, r.remote);
    w.str(record_side(k, r) == Side::In ? "->" : "<-");
    put_endpoint(w, r.local);
    w.str("|PID=");
    w.uint(r.pid);
    w.str(" CMD=");
  }
  append_escaped_comm(out, r.comm);
  out.push_back('\n');
}

void append_json(std::string& out, const Record& r) {
  const KindInfo& k = kind_info(r.type);
  {
    // The words (19 bytes), the kind's name and the time.
    RawAppend w(out, 64 + k.name.size() + 20);
    w.str("{\"type\":\"");
    w.str(k.name);
    w.str("\",\"ts_ns\":");
    w.uint(r.time_ns);
  }
  if (k.connection) {
    {
      // The words (120 bytes: 160 leaves room), two addresses, seven numbers.
      RawAppend w(out, 160 + 2 * kIpRoom + 7 * 20);
      w.str(",\"direction\":\"");
      const Side side = record_side(k, r);
      w.str(side == Side::In ? "in" : side == Side::Out ? "out" : "unknown");
      w.str("\",\"family\":");
      w.ch(r.local.ip.family == 6 ? '6' : '4');
      w.str(",\"local_ip\":\"");
      put_ip(w, r.local.ip);
      w.str("\",\"local_port\":");
      w.uint(r.local.port);
      w.str(",\"remote_ip\":\"");
      put_ip(w, r.remote.ip);
      w.str("\",\"remote_port\":");
      w.uint(r.remote.port);
      w.str(",\"pid\":");
      w.uint(r.pid);
      w.str(",\"tid\":");
      w.uint(r.tid);
      w.str(",\"uid\":");
      w.uint(r.uid);
      w.str(",\"comm\":\"");
    }
    append_json_comm(out, r.comm);
    {
      RawAppend w(out, 32 + 2 * 20);
      w.str("\",\"netns\":");
      w.uint(r.netns);
      w.str(",\"cgroup_id\":");
      w.uint(r.cgroup_id);
    }
    // Identity (issue 13): only what is known, so a trace without it keeps
    // its lines as they were.
    if (r.ppid) {
      out.append(",\"ppid\":");
      append_uint(out, r.ppid);
    }
    if (r.start_ns) {
      out.append(",\"start_ns\":");
      append_uint(out, r.start_ns);
    }
    for (const IdentityField& f : identity_fields()) {
      const std::string& v = r.*f.member;
      if (v.empty())
        continue;
      out.append(",\"");
      out.append(f.key);
      out.append("\":\"");
      append_json_comm(out, v);
      out.push_back('"');
    }
    if (r.has_nat())
      append_nat_json(out, r); // nettrace --nat (issue 16)
  }
  if (k.append_json)
    k.append_json(out, r);
  if (!r.host.empty()) {
    // Host names come from users too: same reversible escaping as comm.
    out.append(",\"host\":\"");
    append_json_comm(out, r.host);
    out.push_back('"');
  }
  out.append("}\n");
}

} // namespace nt
