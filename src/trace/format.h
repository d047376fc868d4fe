// Formatting of trace records: arrow lines (the established format) and JSON
// lines. Everything appends to a caller-owned buffer, so a caller that reuses
// its std::string does no allocation per line.
#pragma once

#include <string>
#include <string_view>

#include "trace/kinds.h"
#include "trace/record.h"

namespace nt {

// Process names may hold any byte but NUL. Printable ASCII passes except the
// backslash (written "\\"); every other byte is written "\xHH". The result is
// ASCII, a single line, and reversible by unescape_comm.
void append_escaped_comm(std::string& out, std::string_view raw);
// The value of a hex digit (either case), or -1: for the readers of "\xHH"
// and "%HH" escapes.
inline int hex_digit_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// The same text as a JSON string's content: arrow-escaped, then JSON-escaped
// (every backslash doubled, '"' escaped), so a JSON line stays pure ASCII.
void append_json_comm(std::string& out, std::string_view raw);
// Reverses append_escaped_comm. Returns false on a malformed escape.
bool unescape_comm(std::string_view escaped, std::string& out);

// "1.2.3.4" or "2001:db8::1" (RFC 5952); IPv4-mapped IPv6 is written as IPv4.
void append_ip(std::string& out, const IpAddr& ip);
// "1.2.3.4:80" or "[2001:db8::1]:443".
void append_endpoint(std::string& out, const Endpoint& ep);

// Errno name for failed connects ("ECONNREFUSED"), or "" when unknown.
std::string_view errno_name(int err);

// One arrow line, '\n' included, in the form the kind's row (kinds.cpp) gives:
//   Connect  <remote><-<local>|PID=<pid> CMD=<comm>
//   Accept   <remote>-><local>|PID=<pid> CMD=<comm>
//   Failed   # failed <ERRNAME> <remote><-<local>|PID=<pid> CMD=<comm>
//   Lost     # lost <N> events: ring buffer full (raise --ringbuf-size)
void append_arrow(std::string& out, const Record& r);

// One JSON object, '\n' included. Keys: type, ts_ns; for connection kinds
// direction, family, local_ip, local_port, remote_ip, remote_port, pid, tid,
// uid, comm, netns, cgroup_id; then the kind's own (failed: error, errno;
// lost: count); then host if set.
// comm is the arrow-escaped name, JSON-escaped, so the line is pure ASCII.
void append_json(std::string& out, const Record& r);

} // namespace nt
