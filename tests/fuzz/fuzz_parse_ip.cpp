// Differential libFuzzer target: netgraph's hand-written address parser against
// the libc it replaced. Any bytes go to parse_ip and, as an endpoint, to
// parse_endpoint; both must accept exactly what the inet_pton-based reference
// below accepts and produce the same bytes (IPv4-mapped IPv6 normalised).
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "trace/parse.h"
#include "trace/record.h"

namespace {

// The parser as it was before it stopped calling libc (commit 27c6e0a).
bool reference_ip(std::string_view text, nt::IpAddr& out) {
  char buf[INET6_ADDRSTRLEN + 1];
  out = {};
  if (text.empty() || text.size() >= sizeof buf)
    return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  const bool v6 = text.find(':') != std::string_view::npos;
  if (inet_pton(v6 ? AF_INET6 : AF_INET, buf, out.bytes.data()) != 1)
    return false;
  out.family = v6 ? 6 : 4;
  static constexpr uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (v6 && std::memcmp(out.bytes.data(), mapped, sizeof mapped) == 0) {
    uint8_t v4[4];
    std::memcpy(v4, out.bytes.data() + 12, 4);
    out.bytes = {};
    std::memcpy(out.bytes.data(), v4, 4);
    out.family = 4;
  }
  return true;
}

bool reference_port(std::string_view s, uint16_t& out) {
  if (s.empty() || s.size() > 20)
    return false;
  unsigned long v = 0;
  for (char c : s) {
    if (c < '0' || c > '9')
      return false;
    v = v * 10 + unsigned(c - '0');
    if (v > 65535)
      return false;
  }
  out = uint16_t(v);
  return true;
}

bool reference_endpoint(std::string_view text, nt::Endpoint& out) {
  std::string_view ip, port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return false;
    ip = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (ip.find(':') == std::string_view::npos)
      return false;
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return false;
    ip = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (ip.find(':') != std::string_view::npos)
      return false;
  }
  return reference_port(port, out.port) && reference_ip(ip, out.ip);
}

[[noreturn]] void fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "%s disagrees with the inet_pton reference on: '%.*s'\n", what,
               int(input.size()), input.data());
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  nt::IpAddr got, want;
  const bool ok = nt::parse_ip(text, got);
  if (ok != reference_ip(text, want) || (ok && !(got == want)))
    fail("parse_ip", text);
  nt::Endpoint got_ep, want_ep;
  const bool ok_ep = nt::parse_endpoint(text, got_ep);
  if (ok_ep != reference_endpoint(text, want_ep) || (ok_ep && !(got_ep == want_ep)))
    fail("parse_endpoint", text);
  return 0;
}
