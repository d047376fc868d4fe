#include "trace/format.h"

#include <arpa/inet.h>

#include <cerrno>
#include <charconv>
#include <cstring>

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

void append_json_comm(std::string& out, std::string_view raw) {
  escape_comm<true>(out, raw);
}

} // namespace

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

void append_ip(std::string& out, const IpAddr& ip) {
  char buf[INET6_ADDRSTRLEN];
  if (ip.family == 4 || is_v4_mapped(ip)) {
    const uint8_t* b = ip.family == 4 ? ip.bytes.data() : ip.bytes.data() + 12;
    for (int i = 0; i < 4; ++i) {
      if (i)
        out.push_back('.');
      append_uint(out, static_cast<unsigned>(b[i]));
    }
    return;
  }
  if (ip.family == 6 && inet_ntop(AF_INET6, ip.bytes.data(), buf, sizeof buf)) {
    out.append(buf);
    return;
  }
  out.append("?");
}

void append_endpoint(std::string& out, const Endpoint& ep) {
  const bool bracket = ep.ip.family == 6 && !is_v4_mapped(ep.ip);
  if (bracket)
    out.push_back('[');
  append_ip(out, ep.ip);
  if (bracket)
    out.push_back(']');
  out.push_back(':');
  append_uint(out, ep.port);
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
  append_endpoint(out, r.remote);
  out.append(record_side(k, r) == Side::In ? "->" : "<-");
  append_endpoint(out, r.local);
  out.append("|PID=");
  append_uint(out, r.pid);
  out.append(" CMD=");
  append_escaped_comm(out, r.comm);
  out.push_back('\n');
}

void append_json(std::string& out, const Record& r) {
  const KindInfo& k = kind_info(r.type);
  out.append("{\"type\":\"");
  out.append(k.name);
  out.append("\",\"ts_ns\":");
  append_uint(out, r.time_ns);
  if (k.connection) {
    out.append(",\"direction\":\"");
    const Side side = record_side(k, r);
    out.append(side == Side::In ? "in" : side == Side::Out ? "out" : "unknown");
    out.append("\",\"family\":");
    out.push_back(r.local.ip.family == 6 ? '6' : '4');
    out.append(",\"local_ip\":\"");
    append_ip(out, r.local.ip);
    out.append("\",\"local_port\":");
    append_uint(out, r.local.port);
    out.append(",\"remote_ip\":\"");
    append_ip(out, r.remote.ip);
    out.append("\",\"remote_port\":");
    append_uint(out, r.remote.port);
    out.append(",\"pid\":");
    append_uint(out, r.pid);
    out.append(",\"tid\":");
    append_uint(out, r.tid);
    out.append(",\"uid\":");
    append_uint(out, r.uid);
    out.append(",\"comm\":\"");
    append_json_comm(out, r.comm);
    out.append("\",\"netns\":");
    append_uint(out, r.netns);
    out.append(",\"cgroup_id\":");
    append_uint(out, r.cgroup_id);
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
