#include "trace/parse.h"

#include <array>
#include <cstring>
#include <simdjson.h>

#include "trace/format.h"
#include "trace/kinds.h"

namespace nt {
namespace {

constexpr ParseResult ok() {
  return {ParseKind::Record, {}};
}
constexpr ParseResult skip() {
  return {ParseKind::Skip, {}};
}
constexpr ParseResult error(std::string_view why) {
  return {ParseKind::Error, why};
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

// Accepts what std::from_chars accepts for an unsigned type (digits only, no
// sign, no overflow), written out because from_chars' generic code was a tenth
// of netgraph's time: three numbers per line.
template <typename T> bool parse_uint(std::string_view s, T& out) {
  if (s.empty() || s.size() > 20)
    return false;
  T v = 0;
  for (char c : s) {
    const unsigned d = static_cast<unsigned char>(c) - unsigned('0');
    if (d > 9 || __builtin_mul_overflow(v, T(10), &v) || __builtin_add_overflow(v, T(d), &v))
      return false;
  }
  out = v;
  return true;
}

// Prototype traces (bpftrace) wrote names raw; ours escape them. A name that is
// not a valid escape sequence is therefore taken as it stands. Almost no name
// holds a backslash: those are copied without going through the unescaper.
void take_comm(std::string_view text, std::string& out) {
  if (text.find('\\') == std::string_view::npos)
    out.assign(text);
  else if (!unescape_comm(text, out))
    out.assign(text);
}

// First "ab" in s, or npos. memchr finds the candidates: string_view::find of a
// two-byte needle compared at every position.
size_t find_pair(std::string_view s, char a, char b) {
  const char* p = s.data();
  const char* end = p + s.size();
  while (p + 1 < end) {
    p = static_cast<const char*>(std::memchr(p, a, size_t(end - p - 1)));
    if (!p)
      break;
    if (p[1] == b)
      return size_t(p - s.data());
    ++p;
  }
  return std::string_view::npos;
}

// "<remote><-<local>" or "<remote>-><local>"; sets type Connect or Accept.
ParseResult parse_arrow_body(std::string_view line, Record& out) {
  size_t bar = line.find('|');
  if (bar == std::string_view::npos)
    return error("no '|PID=' part");
  std::string_view ends = line.substr(0, bar);
  std::string_view rest = line.substr(bar + 1);
  size_t arrow = find_pair(ends, '<', '-');
  if (arrow != std::string_view::npos) {
    out.type = RecordType::Connect;
  } else if ((arrow = find_pair(ends, '-', '>')) != std::string_view::npos) {
    out.type = RecordType::Accept;
  } else {
    return error("no '<-' or '->' between the endpoints");
  }
  if (!parse_endpoint(ends.substr(0, arrow), out.remote))
    return error("bad remote endpoint");
  if (!parse_endpoint(ends.substr(arrow + 2), out.local))
    return error("bad local endpoint");
  if (!starts_with(rest, "PID="))
    return error("no 'PID=' after '|'");
  rest.remove_prefix(4);
  size_t sp = rest.find(" CMD=");
  if (sp == std::string_view::npos)
    return error("no ' CMD=' after the pid");
  if (!parse_uint(rest.substr(0, sp), out.pid))
    return error("bad pid");
  // The name runs to the end of the line: it may hold spaces, '|' or "CMD=".
  take_comm(rest.substr(sp + 5), out.comm);
  return ok();
}

// Every field back to its default, whatever fields Record grows, keeping the
// strings' buffers (no allocation per line): the implicit copy assignment
// assigns member by member, and assigning an empty string to a std::string
// keeps its capacity.
void reset(Record& out) {
  static const Record blank;
  out = blank;
}

// "# <name> <args>[ <connection line>]" for the kinds whose row says so
// (kinds.cpp); any other comment is skipped.
ParseResult parse_marker(std::string_view line, Record& out) {
  for (const KindInfo& k : kinds()) {
    if (k.arrow == ArrowForm::Line)
      continue;
    if (line.size() < k.name.size() + 3 || line.compare(2, k.name.size(), k.name) != 0 ||
        line[1] != ' ' || line[k.name.size() + 2] != ' ')
      continue;
    std::string_view args = line.substr(k.name.size() + 3);
    if (k.parse_args)
      if (std::string_view why = k.parse_args(args, out); !why.empty())
        return error(why);
    if (k.arrow == ArrowForm::MarkedLine) {
      ParseResult r = parse_arrow_body(args, out);
      if (r.kind != ParseKind::Record)
        return r;
      if (k.side == Side::FromRecord)
        // The arrow gives the side; a close without owner has none.
        out.side = out.owner_evicted                ? Side::None
                   : out.type == RecordType::Accept ? Side::In
                                                    : Side::Out;
      else if ((out.type == RecordType::Accept) != (k.side == Side::In))
        return error("the arrow in this '#' marker points the wrong way for its kind");
    }
    out.type = k.type;
    return ok();
  }
  return skip(); // any other comment
}

} // namespace

namespace {

// Value of a hex digit, or -1; a table because IPv6 text is read one byte at a
// time.
constexpr std::array<int8_t, 256> kHexValue = [] {
  std::array<int8_t, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[c] = c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
  return t;
}();
int hex_value(char c) {
  return kHexValue[static_cast<unsigned char>(c)];
}

// 0..9 for a decimal digit, more for any other byte.
unsigned digit(char c) {
  return unsigned(static_cast<unsigned char>(c)) - unsigned('0');
}

// Dotted quad, exactly as glibc's inet_pton(AF_INET) takes it: four decimal
// parts of at most 255 with no leading zero ("01"), separated by single dots.
// Reads from p up to the first byte that cannot continue the address and
// returns where it stopped, or nullptr; dst is written only on success.
// inet_pton itself needed a NUL-terminated copy and a libc call per address,
// a fifth of netgraph's time.
const char* scan_v4(const char* p, const char* end, uint8_t* dst) {
  uint8_t tmp[4];
  for (int part = 0;; ++part) {
    if (p == end || digit(*p) > 9)
      return nullptr;
    unsigned v = digit(*p++);
    if (p != end && digit(*p) <= 9) {
      if (v == 0)
        return nullptr; // leading zero
      v = v * 10 + digit(*p++);
      if (p != end && digit(*p) <= 9) {
        v = v * 10 + digit(*p++);
        if (v > 255 || (p != end && digit(*p) <= 9))
          return nullptr;
      }
    }
    tmp[part] = uint8_t(v);
    if (part == 3)
      break;
    if (p == end || *p != '.')
      return nullptr;
    ++p;
  }
  std::memcpy(dst, tmp, 4);
  return p;
}

// scan_v4 where at least 16 bytes follow p (the longest address and the byte
// after it): the same steps without checking for the end at every byte.
// These are three of the four addresses on a line.
[[gnu::always_inline]] inline const char* scan_v4_unchecked(const char* p, uint8_t* dst) {
  // The four bytes are gathered in a register: written to a byte array one
  // by one and read back as a word, they stalled the CPU on every address
  // (a store-forwarding failure: a fifth of the line head's time).
  uint32_t quad = 0;
  for (int part = 0;; ++part) {
    const unsigned a = digit(p[0]);
    if (a > 9)
      return nullptr;
    unsigned v = a, b = digit(p[1]);
    if (b > 9) {
      p += 1;
    } else {
      if (a == 0)
        return nullptr; // leading zero
      const unsigned c = digit(p[2]);
      if (c > 9) {
        v = a * 10 + b;
        p += 2;
      } else {
        v = a * 100 + b * 10 + c;
        if (v > 255 || digit(p[3]) <= 9)
          return nullptr;
        p += 3;
      }
    }
    static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the first octet is the low byte");
    quad |= v << (8 * part);
    if (part == 3)
      break;
    if (*p != '.')
      return nullptr;
    ++p;
  }
  std::memcpy(dst, &quad, 4);
  return p;
}

bool parse_v4(const char* p, const char* end, uint8_t* dst) {
  uint8_t tmp[4];
  if (scan_v4(p, end, tmp) != end)
    return false;
  std::memcpy(dst, tmp, 4);
  return true;
}

// IPv6 text, exactly as glibc's inet_pton(AF_INET6) takes it (resolv/inet_pton.c
// since glibc 2.26): up to eight groups of one to four hex digits, one "::" for
// a run of zero groups, an optional dotted quad in the last 32 bits.
bool parse_v6(const char* p, const char* end, uint8_t* dst) {
  uint8_t tmp[16] = {};
  uint8_t* tp = tmp;
  uint8_t* const endp = tmp + 16;
  uint8_t* colonp = nullptr;
  if (p == end)
    return false;
  if (*p == ':' && (++p == end || *p != ':'))
    return false; // a leading ':' must be "::"
  const char* curtok = p;
  int xdigits = 0;
  unsigned val = 0;
  while (p < end) {
    const char c = *p++;
    const int digit = hex_value(c);
    if (digit >= 0) {
      if (xdigits == 4)
        return false;
      val = (val << 4) | unsigned(digit);
      ++xdigits;
      continue;
    }
    if (c == ':') {
      curtok = p;
      if (xdigits == 0) {
        if (colonp)
          return false; // a second "::"
        colonp = tp;
        continue;
      }
      if (p == end || tp + 2 > endp)
        return false; // trailing single ':' or too many groups
      *tp++ = uint8_t(val >> 8);
      *tp++ = uint8_t(val);
      xdigits = 0;
      val = 0;
      continue;
    }
    // A dotted quad ends the address: it restarts from the token's first byte.
    if (c == '.' && tp + 4 <= endp && parse_v4(curtok, end, tp)) {
      tp += 4;
      xdigits = 0;
      break;
    }
    return false;
  }
  if (xdigits > 0) {
    if (tp + 2 > endp)
      return false;
    *tp++ = uint8_t(val >> 8);
    *tp++ = uint8_t(val);
  }
  if (colonp) {
    if (tp == endp)
      return false; // "::" would stand for no group at all
    // The groups after "::" move to the end, zeros in their place; byte by
    // byte (at most 14), as library calls for so few cost more than the move.
    const size_t n = size_t(tp - colonp);
    for (size_t i = 1; i <= n; ++i) {
      endp[-ptrdiff_t(i)] = colonp[n - i];
      colonp[n - i] = 0;
    }
    tp = endp;
  }
  if (tp != endp)
    return false;
  std::memcpy(dst, tmp, 16);
  return true;
}

// The family is chosen by the caller as parse_ip always did: by a ':' anywhere
// in the text.
// Takes the whole text or nothing: no byte may follow the address.
bool parse_ip_whole(std::string_view text, bool v6, IpAddr& out) {
  out = {};
  // inet_pton's limit: the text had to fit a INET6_ADDRSTRLEN buffer.
  if (text.empty() || text.size() > 46)
    return false;
  const char* end = text.data() + text.size();
  if (!(v6 ? parse_v6(text.data(), end, out.bytes.data())
           : parse_v4(text.data(), end, out.bytes.data())))
    return false;
  out.family = v6 ? 6 : 4;
  // IPv4-mapped IPv6 is the same peer as its IPv4 address: normalise so both
  // ends of a dual-stack connection pair up.
  unmap_v4(out);
  return true;
}

bool parse_ip_as(std::string_view text, bool v6, IpAddr& out) {
  if (parse_ip_whole(text, v6, out))
    return true;
  // inet_pton read a C string, so an embedded NUL ended the address. Neither
  // parser accepts a NUL, so only a failed parse needs the second look.
  const size_t nul = text.find('\0');
  return nul != std::string_view::npos && text.size() <= 46 &&
         parse_ip_whole(text.substr(0, nul), v6, out);
}

} // namespace

bool parse_ip(std::string_view text, IpAddr& out) {
  return parse_ip_as(text, text.find(':') != std::string_view::npos, out);
}

bool parse_endpoint(std::string_view text, Endpoint& out) {
  std::string_view ip, port;
  bool v6;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return false;
    ip = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (ip.find(':') == std::string_view::npos)
      return false; // brackets are for IPv6
    v6 = true;
  } else {
    // Split at the first ':' (not the last): with a second one the port fails
    // to parse, which rejects bare IPv6 (ambiguous) the same way.
    size_t colon = text.find(':');
    if (colon == std::string_view::npos)
      return false;
    ip = text.substr(0, colon);
    port = text.substr(colon + 1);
    v6 = false;
  }
  unsigned p = 0;
  if (!parse_uint(port, p) || p > 65535)
    return false;
  out.port = static_cast<uint16_t>(p);
  return parse_ip_as(ip, v6, out.ip);
}

int errno_from_name(std::string_view name) {
  for (int e = 1; e < 256; ++e) {
    std::string_view n = errno_name(e);
    if (!n.empty() && n == name)
      return e;
  }
  return 0;
}

namespace {

// A JSON line's members, found in one pass over the object. simdjson's
// object lookup walks the members from the first and compares each key, and
// a line is asked for twenty-odd names, most of them absent (the identity
// fields, NAT): 300 key comparisons a line, 40% of netgraph's time on JSON
// traces. Here each member goes into a small open-addressing table once and
// each name asked for is one probe. The first of two members with one name
// wins, as with simdjson's lookup; an object with more members than the
// table holds (no nettrace line comes near) is asked through simdjson.
class Members {
public:
  void collect(simdjson::dom::object o) {
    object_ = o;
    if (++generation_ == 0) { // wrapped: every slot's stamp could match again
      for (Slot& s : slots_)
        s.generation = 0;
      generation_ = 1;
    }
    used_ = 0;
    any_nat_ = false;
    for (auto field : o) {
      any_nat_ |= field.key.substr(0, 4) == "nat_";
      if (++used_ > kMaxMembers)
        continue; // asked through simdjson (operator[])
      for (size_t i = slot_of(field.key);; i = (i + 1) & (kSlots - 1)) {
        Slot& s = slots_[i];
        if (s.generation != generation_) {
          s = {field.key, field.value, generation_};
          break;
        }
        if (s.key == field.key)
          break; // a second member of that name: the first stays
      }
    }
  }

  // The member's value, or an error: NO_SUCH_FIELD when there is none.
  simdjson::simdjson_result<simdjson::dom::element> operator[](std::string_view key) const {
    if (used_ > kMaxMembers)
      return object_[key];
    for (size_t i = slot_of(key);; i = (i + 1) & (kSlots - 1)) {
      const Slot& s = slots_[i];
      if (s.generation != generation_)
        return simdjson::NO_SUCH_FIELD;
      if (s.key == key)
        return simdjson::dom::element(s.value);
    }
  }

  bool any_nat() const { return any_nat_; }

private:
  static constexpr size_t kSlots = 64;      // a power of two
  static constexpr size_t kMaxMembers = 40; // keeps probes short; a close line has 33
  struct Slot {
    std::string_view key;
    simdjson::dom::element value;
    uint32_t generation = 0;
  };
  // Member names are short ASCII words: their length and three of their
  // bytes tell nettrace's names apart well enough for a 64-slot table.
  static size_t slot_of(std::string_view k) {
    if (k.empty())
      return 0;
    const size_t h = k.size() * 131 + size_t(uint8_t(k[0])) * 31 +
                     size_t(uint8_t(k[k.size() / 2])) * 7 + size_t(uint8_t(k.back()));
    return (h ^ (h >> 6)) & (kSlots - 1);
  }

  std::array<Slot, kSlots> slots_{};
  uint32_t generation_ = 0;
  size_t used_ = 0;
  bool any_nat_ = false;
  simdjson::dom::object object_;
};

} // namespace

struct LineParser::Json {
  simdjson::dom::parser parser;
  std::string padded; // reused copy with simdjson's padding
  Members members;
};

LineParser::LineParser() : json_(std::make_unique<Json>()) {}
LineParser::~LineParser() = default;

namespace {

template <typename T> bool get_uint(const Members& o, std::string_view key, T& out, bool required) {
  uint64_t v = 0;
  auto err = o[key].get_uint64().get(v);
  if (err == simdjson::NO_SUCH_FIELD)
    return !required;
  if (err || v > std::numeric_limits<T>::max())
    return false;
  out = static_cast<T>(v);
  return true;
}

bool get_str(const Members& o, std::string_view key, std::string_view& out) {
  return !o[key].get_string().get(out);
}

// A kind's own JSON members, read through the table's interface.
class ObjectFields final : public JsonFields {
public:
  explicit ObjectFields(const Members& o) : o_(o) {}
  Got uint(std::string_view key, uint64_t& out) override {
    auto err = o_[key].get_uint64().get(out);
    return err == simdjson::NO_SUCH_FIELD ? Got::Missing : err ? Got::Bad : Got::Ok;
  }
  Got text(std::string_view key, std::string_view& out) override {
    auto err = o_[key].get_string().get(out);
    return err == simdjson::NO_SUCH_FIELD ? Got::Missing : err ? Got::Bad : Got::Ok;
  }

private:
  const Members& o_;
};

ParseResult parse_json(simdjson::dom::parser& parser, std::string& padded, Members& o,
                       std::string_view line, Record& out) {
  padded.assign(line);
  padded.append(simdjson::SIMDJSON_PADDING, '\0');
  simdjson::dom::element doc;
  if (parser.parse(padded.data(), line.size(), false).get(doc))
    return error("invalid JSON");
  simdjson::dom::object obj;
  if (doc.get_object().get(obj))
    return error("JSON line is not an object");
  o.collect(obj);
  std::string_view type;
  if (!get_str(o, "type", type))
    return error("JSON line has no string 'type'");
  std::string_view host;
  if (!o["host"].get_string().get(host))
    take_comm(host, out.host);
  if (!get_uint(o, "ts_ns", out.time_ns, false))
    return error("bad 'ts_ns'");
  out.has_details = true;
  const KindInfo* k = kind_by_name(type);
  if (!k)
    return error("unknown JSON 'type'");
  out.type = k->type;
  if (k->connection) {
    std::string_view lip, rip, comm;
    if (!get_str(o, "local_ip", lip) || !parse_ip(lip, out.local.ip))
      return error("bad 'local_ip'");
    if (!get_str(o, "remote_ip", rip) || !parse_ip(rip, out.remote.ip))
      return error("bad 'remote_ip'");
    if (!get_uint(o, "local_port", out.local.port, true))
      return error("bad 'local_port'");
    if (!get_uint(o, "remote_port", out.remote.port, true))
      return error("bad 'remote_port'");
    if (!get_uint(o, "pid", out.pid, true))
      return error("bad 'pid'");
    if (!get_uint(o, "tid", out.tid, false) || !get_uint(o, "uid", out.uid, false) ||
        !get_uint(o, "netns", out.netns, false) || !get_uint(o, "cgroup_id", out.cgroup_id, false))
      return error("bad tid, uid, netns or cgroup_id");
    if (!get_uint(o, "ppid", out.ppid, false) || !get_uint(o, "start_ns", out.start_ns, false))
      return error("bad 'ppid' or 'start_ns'");
    for (const IdentityField& f : identity_fields()) {
      std::string_view v;
      const auto err = o[f.key].get_string().get(v);
      if (err == simdjson::NO_SUCH_FIELD)
        continue;
      if (err)
        return error("an identity field (exe, cmdline, cgroup, container, pod, pod_qos, unit) "
                     "that is not a string");
      take_comm(v, out.*f.member);
    }
    if (!get_str(o, "comm", comm))
      return error("JSON line has no string 'comm'");
    take_comm(comm, out.comm);
    // nettrace --nat (issue 16): read only when the line has a nat_ member.
    if (o.any_nat()) {
      ObjectFields fields(o);
      if (std::string_view why = read_nat_json(fields, out); !why.empty())
        return error(why);
    }
  }
  if (k->read_json) {
    ObjectFields fields(o);
    if (std::string_view why = k->read_json(fields, out); !why.empty())
      return error(why);
  }
  return ok();
}

// A port as parse_endpoint takes it (1 to 20 digits, at most 65535), read up to
// the first non-digit; returns where it stopped, or nullptr.
[[gnu::always_inline]] inline const char* scan_port(const char* p, const char* end,
                                                    uint16_t& port) {
  if (end - p >= 6) {
    // One to five digits and the byte after them, read without checking for
    // the end at each one (six bytes are there). Written out: these are two
    // of the three numbers on every line.
    unsigned v = digit(p[0]), d;
    if (v > 9)
      return nullptr;
    const char* q = p + 1;
    if ((d = digit(*q)) <= 9) {
      v = v * 10 + d;
      if ((d = digit(*++q)) <= 9) {
        v = v * 10 + d;
        if ((d = digit(*++q)) <= 9) {
          v = v * 10 + d;
          if ((d = digit(*++q)) <= 9) {
            v = v * 10 + d;
            ++q;
          }
        }
      }
    }
    if (v > 65535)
      return nullptr;
    if (q - p < 5 || digit(*q) > 9) {
      port = uint16_t(v);
      return q;
    }
    // Six digits or more: only leading zeros can keep it a port.
  }
  const char* start = p;
  unsigned v = 0;
  while (p != end && digit(*p) <= 9) {
    v = v * 10 + digit(*p++);
    if (v > 65535)
      return nullptr;
  }
  if (p == start || p - start > 20)
    return nullptr;
  port = uint16_t(v);
  return p;
}

// The common form of bracketed IPv6 text, group by group, from just after the
// '[': one to four hex digits per group, at most one "::", no dotted quad,
// then ']'. Returns where the ']' is, having set `out` to what
// parse_ip_whole(text before it, true) gives; nullptr on anything unusual (a
// dotted quad, a leading "::", any other byte), and the general reader then
// decides. Every byte before the ']' is a hex digit or ':', so it is the
// first ']' on the line, the one the general reader looks for. parse_v6 reads
// byte by byte with a state per byte (about 280 instructions an address);
// this takes about two thirds of that, and no search for the ']'.
[[gnu::always_inline]] inline const char* scan_v6_groups(const char* p, const char* end,
                                                         IpAddr& out) {
  uint16_t g[8];
  int n = 0, gap = -1; // groups read; where "::" stood (groups before it)
  if (p == end || *p == ':')
    return nullptr;
  for (;;) {
    const char* const start = p;
    unsigned v = 0;
    int d;
    while (p != end && (d = hex_value(*p)) >= 0) {
      v = v << 4 | unsigned(d);
      ++p;
    }
    if (p == start || p - start > 4 || n == 8 || p == end)
      return nullptr;
    g[n++] = uint16_t(v);
    if (*p == ']')
      break;
    if (*p != ':' || ++p == end)
      return nullptr; // '.' (a dotted quad) or any other byte
    if (*p == ':') {
      if (gap >= 0)
        return nullptr;
      gap = n;
      if (++p == end)
        return nullptr;
      if (*p == ']')
        break;
    }
  }
  // Eight groups without "::", fewer with it ("::" stands for at least one).
  if (gap < 0 ? n != 8 : n == 8)
    return nullptr;
  // The sixteen bytes are built in two words and stored once: clearing the
  // address and writing it byte by byte cost more than reading the text.
  const int tail = gap < 0 ? 0 : n - gap; // groups after "::" go to the end
  const int head = n - tail;
  uint64_t lo = 0, hi = 0;                 // bytes 0-7 and 8-15
  auto put = [&](int at, uint16_t group) { // at: the group's place, 0 to 7
    (at < 4 ? lo : hi) |= uint64_t(__builtin_bswap16(group)) << (16 * (at & 3));
  };
  for (int i = 0; i < head; ++i)
    put(i, g[i]);
  for (int i = 0; i < tail; ++i)
    put(8 - tail + i, g[head + i]);
  // IPv4-mapped (::ffff:a.b.c.d) becomes the IPv4 address, as unmap_v4 does:
  // bytes 0 to 9 zero, 10 and 11 0xff (little-endian words).
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "address bytes as little-endian words");
  if (lo == 0 && (hi & 0xffffffff) == 0xffff0000) {
    lo = hi >> 32;
    hi = 0;
    out.family = 4;
  } else {
    out.family = 6;
  }
  std::memcpy(out.bytes.data(), &lo, 8);
  std::memcpy(out.bytes.data() + 8, &hi, 8);
  return p;
}

// "1.2.3.4:80" or "[2001:db8::1]:443" from p; returns the byte after the port.
[[gnu::always_inline]] inline const char* scan_endpoint(const char* p, const char* end,
                                                        Endpoint& ep) {
  if (*p == '[') {
    // The first ']' on the line: if it lies past this endpoint, what is
    // between holds the arrow and fails to parse as an address. Whole: a NUL
    // before the ']' would end the address for parse_ip, but the general
    // parser may have split the line elsewhere.
    ++p;
    const char* q = scan_v6_groups(p, end, ep.ip);
    if (!q) {
      q = static_cast<const char*>(std::memchr(p, ']', size_t(end - p)));
      if (!q || !parse_ip_whole(std::string_view(p, size_t(q - p)), true, ep.ip))
        return nullptr;
    }
    if (end - q < 2 || q[1] != ':')
      return nullptr;
    return scan_port(q + 2, end, ep.port);
  }
  ep.ip = {};
  p = end - p >= 16 ? scan_v4_unchecked(p, ep.ip.bytes.data())
                    : scan_v4(p, end, ep.ip.bytes.data());
  if (!p || p == end || *p != ':')
    return nullptr;
  ep.ip.family = 4;
  return scan_port(p + 1, end, ep.port);
}

// The arrow line nettrace writes, in one pass from left to right, where
// parse_arrow_body searches the line for '|', the arrow and each ':' in turn.
// It takes only lines whose every field has the plain form (so the searches
// would find the same places) and returns false on anything else, possibly
// with part of `out` written: the general parser then starts over.
// fuzz_trace_line checks on any bytes that both give the same result.
// This is its head: endpoints, arrow and "|PID="; parse_arrow_tail reads the
// rest.
bool parse_arrow_head(std::string_view line, ArrowView& out) {
  const char* p = line.data();
  const char* const end = p + line.size();
  if (!(p = scan_endpoint(p, end, out.remote)) || end - p < 2)
    return false;
  if (p[0] == '<' && p[1] == '-')
    out.type = RecordType::Connect;
  else if (p[0] == '-' && p[1] == '>')
    out.type = RecordType::Accept;
  else
    return false;
  p += 2;
  if (p == end || !(p = scan_endpoint(p, end, out.local)))
    return false;
  if (end - p < 5 || std::memcmp(p, "|PID=", 5) != 0)
    return false;
  p += 5;
  out.tail = std::string_view(p, size_t(end - p));
  return true;
}

// A line whose '\r' is stripped: its head if it is a plain arrow line.
bool arrow_view_stripped(std::string_view line, ArrowView& out) {
  return !line.empty() && (line[0] == '[' || digit(line[0]) <= 9) && parse_arrow_head(line, out);
}

} // namespace

bool parse_arrow_tail(std::string_view tail, uint32_t& pid, std::string& comm) {
  const char* p = tail.data();
  const char* const end = p + tail.size();
  const char* digits = p;
  while (p != end && digit(*p) <= 9)
    ++p;
  if (!parse_uint(std::string_view(digits, size_t(p - digits)), pid))
    return false;
  if (end - p < 5 || std::memcmp(p, " CMD=", 5) != 0)
    return false;
  p += 5;
  take_comm(std::string_view(p, size_t(end - p)), comm);
  return true;
}

bool LineParser::parse_arrow_view(std::string_view line, ArrowView& out) {
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1); // as parse() does
  return arrow_view_stripped(line, out);
}

ParseResult LineParser::parse(std::string_view line, Record& out) {
  reset(out);
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1); // CRLF traces
  // Almost every line: a plain arrow line, read head then tail as netgraph's
  // fast lane reads it (parse_arrow_view, parse_arrow_tail).
  ArrowView v;
  if (arrow_view_stripped(line, v)) {
    if (parse_arrow_tail(v.tail, out.pid, out.comm)) {
      out.type = v.type;
      out.local = v.local;
      out.remote = v.remote;
      return ok();
    }
    reset(out);
  }
  return parse_stripped(line, out);
}

ParseResult LineParser::parse_general(std::string_view line, Record& out) {
  reset(out);
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1); // CRLF traces
  return parse_stripped(line, out);
}

// nettrace -t writes the local time before each line ("14:03:07.125 ", see
// src/tracer/clock_prefix.h); what follows is an ordinary line. No trace line
// starts with two digits and a colon: IPv4 has dots, IPv6 brackets.
static std::string_view strip_clock_prefix(std::string_view line) {
  auto digit = [&](size_t i) { return i < line.size() && line[i] >= '0' && line[i] <= '9'; };
  for (size_t i : {0, 3, 6})
    if (!digit(i) || !digit(i + 1) || (i < 6 && (i + 2 >= line.size() || line[i + 2] != ':')))
      return line;
  size_t end = 8;
  if (end < line.size() && line[end] == '.')
    for (++end; digit(end);)
      ++end;
  return end < line.size() && line[end] == ' ' ? line.substr(end + 1) : line;
}

ParseResult LineParser::parse_stripped(std::string_view line, Record& out) {
  line = strip_clock_prefix(line);
  size_t first = line.find_first_not_of(" \t");
  if (first == std::string_view::npos)
    return skip();
  if (line[first] == '#')
    return parse_marker(line.substr(first), out);
  if (line[first] == '{') {
    ParseResult r =
        parse_json(json_->parser, json_->padded, json_->members, line.substr(first), out);
    if (r.kind == ParseKind::Error)
      reset(out);
    return r;
  }
  // Banners the bpftrace prototype printed before its events.
  if (starts_with(line, "Attaching ") || starts_with(line, "Listening for "))
    return skip();
  ParseResult r = parse_arrow_body(line, out);
  if (r.kind == ParseKind::Error)
    reset(out);
  return r;
}

namespace {
LineParser& thread_parser() {
  thread_local LineParser parser;
  return parser;
}
} // namespace

ParseResult parse_line(std::string_view line, Record& out) {
  return thread_parser().parse(line, out);
}

ParseResult parse_line_general(std::string_view line, Record& out) {
  return thread_parser().parse_general(line, out);
}

} // namespace nt
