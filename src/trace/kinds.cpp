#include "trace/kinds.h"

#include <linux/types.h>

#include <array>
#include <charconv>
#include <limits>
#include <tuple>

#include "trace/format.h"
#include "trace/parse.h"
#include "trace/raw_append.h"

extern "C" {
#include "nettrace_event.h"
}

namespace nt {
namespace {

// Errno values stop at the kernel's MAX_ERRNO. Both forms of a failed connect
// (the arrow marker and JSON) refuse larger ones, so a line that one reader
// takes the other takes too (fuzzing found "# failed errno=44230" accepted as
// a marker, then refused once written as JSON).
constexpr uint64_t kMaxErrno = 4095;

template <typename T> void append_uint(std::string& out, T v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec; // 24 bytes hold any 64-bit integer
  out.append(buf, end);
}

// Digits only, no sign, no overflow.
bool whole(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 20)
    return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

// The text up to the first space (all of it if none); `s` keeps what follows
// the space.
std::string_view take_word(std::string_view& s, bool& had_space) {
  const size_t sp = s.find(' ');
  had_space = sp != std::string_view::npos;
  std::string_view word = s.substr(0, sp);
  s.remove_prefix(had_space ? sp + 1 : s.size());
  return word;
}

// --- failed: a connect that never became a connection, and why ---------------

uint32_t shown_errno(const Record& r) {
  return static_cast<uint32_t>(r.error < 0 ? 0 : r.error);
}

void failed_args(std::string& out, const Record& r) {
  const std::string_view name = errno_name(r.error);
  if (!name.empty()) {
    out.append(name);
  } else {
    out.append("errno=");
    append_uint(out, shown_errno(r));
  }
}

std::string_view failed_parse_args(std::string_view& args, Record& out) {
  bool had_space = false;
  const std::string_view name = take_word(args, had_space);
  if (!had_space)
    return "no endpoints in '# failed' marker";
  if (name.substr(0, 6) == "errno=") {
    uint64_t e = 0;
    if (!whole(name.substr(6), e) || e > kMaxErrno)
      return "bad errno in '# failed' marker";
    out.error = int32_t(e);
  } else {
    out.error = errno_from_name(name);
    if (out.error == 0)
      return "unknown error name in '# failed' marker";
  }
  return {};
}

void failed_json(std::string& out, const Record& r) {
  out.append(",\"error\":\"");
  out.append(errno_name(r.error));
  out.append("\",\"errno\":");
  append_uint(out, shown_errno(r));
}

std::string_view failed_read_json(JsonFields& in, Record& out) {
  uint64_t e = 0;
  const JsonFields::Got got = in.uint("errno", e);
  if (got == JsonFields::Got::Bad || e > kMaxErrno)
    return "bad 'errno'";
  out.error = int32_t(e);
  return {};
}

bool failed_same(const Record& a, const Record& b) {
  return a.error == b.error;
}

// --- lost: events the kernel could not deliver ---------------------------------

void lost_args(std::string& out, const Record& r) {
  append_uint(out, r.lost);
  out.append(" events: ring buffer full (raise --ringbuf-size)");
}

std::string_view lost_parse_args(std::string_view& args, Record& out) {
  bool had_space = false;
  if (!whole(take_word(args, had_space), out.lost))
    return "bad count in '# lost' marker";
  args = {}; // the words after the count are for people
  return {};
}

void lost_json(std::string& out, const Record& r) {
  out.append(",\"count\":");
  append_uint(out, r.lost);
}

std::string_view lost_read_json(JsonFields& in, Record& out) {
  if (in.uint("count", out.lost) != JsonFields::Got::Ok)
    return "lost record without a 'count'";
  return {};
}

bool lost_same(const Record& a, const Record& b) {
  return a.lost == b.lost;
}

// --- existing: a connection already established when tracing started ---------

// Both directions share the kind, so JSON says which; arrow lines say it by
// their arrow.
std::string_view existing_read_json(JsonFields& in, Record& out) {
  std::string_view dir;
  if (in.text("direction", dir) != JsonFields::Got::Ok || (dir != "in" && dir != "out"))
    return "existing record without a 'direction' of \"in\" or \"out\"";
  out.side = dir == "in" ? Side::In : Side::Out;
  return {};
}

bool existing_same(const Record& a, const Record& b) {
  return a.side == b.side;
}

// --- snapshot: how many existing connections follow ----------------------------

void snapshot_args(std::string& out, const Record& r) {
  append_uint(out, r.count);
  out.append(r.count == 1 ? " connection" : " connections");
}

std::string_view snapshot_parse_args(std::string_view& args, Record& out) {
  bool had_space = false;
  if (!whole(take_word(args, had_space), out.count))
    return "bad count in '# snapshot' marker";
  args = {}; // the word after the count is for people
  return {};
}

void snapshot_json(std::string& out, const Record& r) {
  out.append(",\"count\":");
  append_uint(out, r.count);
}

std::string_view snapshot_read_json(JsonFields& in, Record& out) {
  if (in.uint("count", out.count) != JsonFields::Got::Ok)
    return "snapshot record without a 'count'";
  return {};
}

bool snapshot_same(const Record& a, const Record& b) {
  return a.count == b.count;
}

// --- close and open: a connection's life --------------------------------------
//
// Arrow form (a MarkedLine): named arguments in this order, then the
// connection line (its process is the owner, as at connect/accept time):
//   # close duration_ns=N bytes_sent=N bytes_received=N retransmits=N srtt_us=N
//     closed_by=WHO last_pid=N last_comm=NAME [errno=N] [owner=evicted] <line>
// NAME is the arrow-escaped name with spaces written "\x20", so it ends at the
// first space. A close whose owner is unknown (owner=evicted) has pid 0 and
// no side; its connection line is written with "<-".

constexpr std::array kClosedByNames = {"unknown",     "local",      "peer",
                                       "local_reset", "peer_reset", "error"};

void append_arg_comm(std::string& out, std::string_view raw) {
  // The common name (printable, no space, no backslash): as it is.
  bool plain = true;
  for (unsigned char c : raw)
    plain &= c > 0x20 && c < 0x7f && c != '\\';
  if (plain) {
    out.append(raw);
    return;
  }
  std::string escaped;
  append_escaped_comm(escaped, raw);
  for (char c : escaped) {
    if (c == ' ')
      out.append("\\x20");
    else
      out.push_back(c);
  }
}

// The close and open records' fields, in the order both forms write them:
// the numbers, then closed_by, last_pid and last_comm.
struct LifeNumber {
  std::string_view key;
  uint64_t (*get)(const Record&);
};
constexpr LifeNumber kLifeNumbers[] = {
    {"duration_ns", [](const Record& r) -> uint64_t { return r.duration_ns; }},
    {"bytes_sent", [](const Record& r) -> uint64_t { return r.bytes_sent; }},
    {"bytes_received", [](const Record& r) -> uint64_t { return r.bytes_received; }},
    {"retransmits", [](const Record& r) -> uint64_t { return r.retransmits; }},
    {"srtt_us", [](const Record& r) -> uint64_t { return r.srtt_us; }},
};
// Room for the fields up to last_comm's value in either form: the keys, four
// bytes of punctuation each, 20 digits per number, closed_by's value.
constexpr size_t kLifeRoom = 5 * (16 + 4 + 20) + (11 + 4 + 16) + (10 + 4 + 20) + (11 + 4);

void life_args(std::string& out, const Record& r) {
  {
    RawAppend w(out, kLifeRoom);
    for (const LifeNumber& f : kLifeNumbers) {
      if (&f != kLifeNumbers)
        w.ch(' ');
      w.str(f.key);
      w.ch('=');
      w.uint(f.get(r));
    }
    w.str(" closed_by=");
    w.str(closed_by_name(r.closed_by));
    w.str(" last_pid=");
    w.uint(r.last_pid);
    w.str(" last_comm=");
  }
  append_arg_comm(out, r.last_comm);
  if (r.error) {
    out.append(" errno=");
    append_uint(out, shown_errno(r));
  }
  if (r.owner_evicted)
    out.append(" owner=evicted");
}

// "key=" and its value, the next word of `args`.
bool take_named(std::string_view& args, std::string_view key, std::string_view& value) {
  bool had_space = false;
  const std::string_view word = take_word(args, had_space);
  if (!had_space || word.substr(0, key.size()) != key || word.size() <= key.size() ||
      word[key.size()] != '=')
    return false;
  value = word.substr(key.size() + 1);
  return true;
}

template <typename T> bool take_uint(std::string_view& args, std::string_view key, T& out) {
  std::string_view v;
  uint64_t n = 0;
  if (!take_named(args, key, v) || !whole(v, n) || n > std::numeric_limits<T>::max())
    return false;
  out = T(n);
  return true;
}

std::string_view life_parse_args(std::string_view& args, Record& out) {
  std::string_view v;
  if (!take_uint(args, "duration_ns", out.duration_ns) ||
      !take_uint(args, "bytes_sent", out.bytes_sent) ||
      !take_uint(args, "bytes_received", out.bytes_received) ||
      !take_uint(args, "retransmits", out.retransmits) || !take_uint(args, "srtt_us", out.srtt_us))
    return "bad or missing duration_ns, bytes_sent, bytes_received, retransmits or srtt_us";
  if (!take_named(args, "closed_by", v) || !closed_by_from_name(v, out.closed_by))
    return "bad or missing closed_by";
  if (!take_uint(args, "last_pid", out.last_pid))
    return "bad or missing last_pid";
  // last_comm may be empty: "last_comm=" then the space.
  if (args.substr(0, 10) != "last_comm=")
    return "missing last_comm";
  args.remove_prefix(10);
  bool had_space = false;
  const std::string_view name = take_word(args, had_space);
  if (!had_space || !unescape_comm(name, out.last_comm))
    return "bad last_comm";
  out.error = 0;
  if (args.substr(0, 6) == "errno=") {
    uint64_t e = 0;
    if (!take_named(args, "errno", v) || !whole(v, e) || e == 0 || e > kMaxErrno)
      return "bad errno";
    out.error = int32_t(e);
  }
  out.owner_evicted = false;
  if (args.substr(0, 13) == "owner=evicted") {
    if (!take_named(args, "owner", v) || v != "evicted")
      return "bad owner";
    out.owner_evicted = true;
  }
  return {};
}

void life_json(std::string& out, const Record& r) {
  {
    RawAppend w(out, kLifeRoom);
    for (const LifeNumber& f : kLifeNumbers) {
      w.str(",\"");
      w.str(f.key);
      w.str("\":");
      w.uint(f.get(r));
    }
    w.str(",\"closed_by\":\"");
    w.str(closed_by_name(r.closed_by));
    w.str("\",\"last_pid\":");
    w.uint(r.last_pid);
    w.str(",\"last_comm\":\"");
  }
  append_json_comm(out, r.last_comm); // same escaping as comm
  out.push_back('"');
  if (r.error) {
    out.append(",\"error\":\"");
    out.append(errno_name(r.error));
    out.append("\",\"errno\":");
    append_uint(out, shown_errno(r));
  }
  if (r.owner_evicted)
    out.append(",\"owner_unknown\":\"evicted\"");
}

template <typename T> std::string_view json_uint(JsonFields& in, std::string_view key, T& out) {
  uint64_t v = 0;
  if (in.uint(key, v) != JsonFields::Got::Ok || v > std::numeric_limits<T>::max())
    return "bad or missing duration_ns, bytes_sent, bytes_received, retransmits, srtt_us or "
           "last_pid";
  out = T(v);
  return {};
}

std::string_view life_read_json(JsonFields& in, Record& out) {
  for (auto why :
       {json_uint(in, "duration_ns", out.duration_ns), json_uint(in, "bytes_sent", out.bytes_sent),
        json_uint(in, "bytes_received", out.bytes_received),
        json_uint(in, "retransmits", out.retransmits), json_uint(in, "srtt_us", out.srtt_us),
        json_uint(in, "last_pid", out.last_pid)})
    if (!why.empty())
      return why;
  std::string_view text;
  if (in.text("closed_by", text) != JsonFields::Got::Ok ||
      !closed_by_from_name(text, out.closed_by))
    return "bad or missing 'closed_by'";
  if (in.text("last_comm", text) != JsonFields::Got::Ok || !unescape_comm(text, out.last_comm))
    return "bad or missing 'last_comm'";
  uint64_t e = 0;
  const JsonFields::Got got = in.uint("errno", e);
  if (got == JsonFields::Got::Bad || e > kMaxErrno)
    return "bad 'errno'";
  out.error = int32_t(e);
  const JsonFields::Got owner = in.text("owner_unknown", text);
  if (owner == JsonFields::Got::Bad || (owner == JsonFields::Got::Ok && text != "evicted"))
    return "bad 'owner_unknown'";
  out.owner_evicted = owner == JsonFields::Got::Ok;
  if (in.text("direction", text) != JsonFields::Got::Ok)
    return "bad or missing 'direction'";
  if (out.owner_evicted != (text == "unknown"))
    return "'direction' is \"unknown\" exactly when 'owner_unknown' is given";
  out.side = text == "in" ? Side::In : text == "out" ? Side::Out : Side::None;
  if (text != "in" && text != "out" && text != "unknown")
    return "bad 'direction'";
  return {};
}

bool life_same(const Record& a, const Record& b) {
  return a.side == b.side && a.owner_evicted == b.owner_evicted && a.closed_by == b.closed_by &&
         a.duration_ns == b.duration_ns && a.bytes_sent == b.bytes_sent &&
         a.bytes_received == b.bytes_received && a.retransmits == b.retransmits &&
         a.srtt_us == b.srtt_us && a.last_pid == b.last_pid && a.last_comm == b.last_comm &&
         a.error == b.error;
}

// --- evicted: owners pushed out of the kernel's full owner map -----------------

void evicted_args(std::string& out, const Record& r) {
  append_uint(out, r.evicted);
  out.append(" owners: owner map full, their closes report pid 0 (raise --max-open)");
}

std::string_view evicted_parse_args(std::string_view& args, Record& out) {
  bool had_space = false;
  if (!whole(take_word(args, had_space), out.evicted))
    return "bad count in '# evicted' marker";
  args = {};
  return {};
}

void evicted_json(std::string& out, const Record& r) {
  out.append(",\"count\":");
  append_uint(out, r.evicted);
}

std::string_view evicted_read_json(JsonFields& in, Record& out) {
  if (in.uint("count", out.evicted) != JsonFields::Got::Ok)
    return "evicted record without a 'count'";
  return {};
}

bool evicted_same(const Record& a, const Record& b) {
  return a.evicted == b.evicted;
}

// --- identity: every connection kind's process, beyond pid and comm ----------

constexpr std::array kIdentityFields = {
    IdentityField{"exe", &Record::exe},       IdentityField{"cmdline", &Record::cmdline},
    IdentityField{"cgroup", &Record::cgroup}, IdentityField{"container", &Record::container},
    IdentityField{"pod", &Record::pod},       IdentityField{"pod_qos", &Record::pod_qos},
    IdentityField{"unit", &Record::unit},
};

bool same_identity(const Record& a, const Record& b) {
  if (a.ppid != b.ppid || a.start_ns != b.start_ns)
    return false;
  for (const IdentityField& f : kIdentityFields)
    if (a.*f.member != b.*f.member)
      return false;
  return true;
}

// --- nat: the translation of the connection line before it (issue 16) -------
// "# nat remote=IP:PORT local=IP:PORT", either half left out when that side
// was not translated. JSON puts the same fields on the connection itself.

void nat_args(std::string& out, const Record& r) {
  if (r.nat_remote.ip.family) {
    out.append("remote=");
    append_endpoint(out, r.nat_remote);
  }
  if (r.nat_local.ip.family) {
    if (r.nat_remote.ip.family)
      out.push_back(' ');
    out.append("local=");
    append_endpoint(out, r.nat_local);
  }
}

std::string_view nat_parse_args(std::string_view& args, Record& out) {
  bool had_space = false;
  std::string_view word = take_word(args, had_space);
  if (word.substr(0, 7) == "remote=") {
    if (!parse_endpoint(word.substr(7), out.nat_remote))
      return "bad remote= in '# nat' marker";
    word = had_space ? take_word(args, had_space) : std::string_view{};
  }
  if (word.substr(0, 6) == "local=") {
    if (!parse_endpoint(word.substr(6), out.nat_local))
      return "bad local= in '# nat' marker";
    word = had_space ? take_word(args, had_space) : std::string_view{};
  }
  if (!word.empty() || had_space)
    return "'# nat' takes remote=IP:PORT and/or local=IP:PORT, nothing else";
  if (!out.has_nat())
    return "'# nat' marker without remote= or local=";
  return {};
}

void nat_json(std::string& out, const Record& r) {
  append_nat_json(out, r);
}

std::string_view nat_read_json(JsonFields& in, Record& out) {
  if (std::string_view why = read_nat_json(in, out); !why.empty())
    return why;
  if (!out.has_nat())
    return "nat record without nat_remote_ip or nat_local_ip";
  return {};
}

bool nat_same(const Record& a, const Record& b) {
  return a.nat_remote == b.nat_remote && a.nat_local == b.nat_local;
}

// The table. Rows in RecordType order (checked below).
constexpr std::array kKinds = {
    KindInfo{RecordType::Connect, "connect", NT_EV_CONNECT, ArrowForm::Line, Side::Out, true, true,
             "", "connection", "connections"},
    KindInfo{RecordType::Accept, "accept", NT_EV_ACCEPT, ArrowForm::Line, Side::In, true, true, "",
             "connection", "connections"},
    KindInfo{RecordType::Failed, "failed", NT_EV_FAILED, ArrowForm::MarkedLine, Side::Out, true,
             false, "--failed", "failed connect", "failed connects", failed_args, failed_parse_args,
             failed_json, failed_read_json, failed_same},
    KindInfo{RecordType::Lost, "lost", 0, ArrowForm::Marker, Side::None, false, false, "", "", "",
             lost_args, lost_parse_args, lost_json, lost_read_json, lost_same},
    KindInfo{RecordType::Close, "close", NT_EV_CLOSE, ArrowForm::MarkedLine, Side::FromRecord, true,
             false, "--close", "close", "closes", life_args, life_parse_args, life_json,
             life_read_json, life_same},
    KindInfo{RecordType::Open, "open", NT_EV_OPEN, ArrowForm::MarkedLine, Side::FromRecord, true,
             false, "--close", "connection open at exit", "connections open at exit", life_args,
             life_parse_args, life_json, life_read_json, life_same},
    KindInfo{RecordType::Evicted, "evicted", 0, ArrowForm::Marker, Side::None, false, false, "", "",
             "", evicted_args, evicted_parse_args, evicted_json, evicted_read_json, evicted_same},
    KindInfo{RecordType::Existing, "existing", 0, ArrowForm::Line, Side::FromRecord, true, true, "",
             "existing connection", "existing connections", nullptr, nullptr, nullptr,
             existing_read_json, existing_same},
    KindInfo{RecordType::Snapshot, "snapshot", 0, ArrowForm::Marker, Side::None, false, false, "",
             "", "", snapshot_args, snapshot_parse_args, snapshot_json, snapshot_read_json,
             snapshot_same},
    KindInfo{RecordType::Nat, "nat", 0, ArrowForm::Marker, Side::None, false, false, "", "", "",
             nat_args, nat_parse_args, nat_json, nat_read_json, nat_same},
};

constexpr bool rows_in_order() {
  for (size_t i = 0; i < kKinds.size(); ++i)
    if (size_t(kKinds[i].type) != i)
      return false;
  return true;
}
static_assert(rows_in_order(), "kKinds rows must follow RecordType's order");

} // namespace

std::span<const IdentityField, kIdentityFieldCount> identity_fields() {
  return kIdentityFields;
}

std::span<const KindInfo> kinds() {
  return kKinds;
}

const KindInfo& kind_info(RecordType t) {
  return kKinds[size_t(t)];
}

std::string_view closed_by_name(ClosedBy c) {
  return kClosedByNames[size_t(c)];
}

bool closed_by_from_name(std::string_view name, ClosedBy& out) {
  for (size_t i = 0; i < kClosedByNames.size(); ++i)
    if (name == kClosedByNames[i]) {
      out = ClosedBy(i);
      return true;
    }
  return false;
}

const KindInfo* kind_by_name(std::string_view name) {
  for (const KindInfo& k : kKinds)
    if (k.name == name)
      return &k;
  return nullptr;
}

const KindInfo* kind_by_bpf(uint16_t bpf_kind) {
  for (const KindInfo& k : kKinds)
    if (k.bpf_kind && k.bpf_kind == bpf_kind)
      return &k;
  return nullptr;
}

bool same_arrow_fields(const Record& a, const Record& b) {
  const KindInfo& ka = kind_info(a.type);
  const KindInfo& kb = kind_info(b.type);
  if (ka.arrow == ArrowForm::Line && kb.arrow == ArrowForm::Line) {
    if (record_side(ka, a) != record_side(kb, b))
      return false;
  } else if (a.type != b.type || (ka.same && !ka.same(a, b))) {
    return false;
  }
  return !ka.connection ||
         (a.local == b.local && a.remote == b.remote && a.pid == b.pid && a.comm == b.comm);
}

void append_nat_json(std::string& out, const Record& r) {
  for (auto [ep, ip_key, port_key] :
       {std::tuple{&r.nat_remote, ",\"nat_remote_ip\":\"", ",\"nat_remote_port\":"},
        std::tuple{&r.nat_local, ",\"nat_local_ip\":\"", ",\"nat_local_port\":"}}) {
    if (!ep->ip.family)
      continue;
    out.append(ip_key);
    append_ip(out, ep->ip);
    out.push_back('"');
    out.append(port_key);
    append_uint(out, ep->port);
  }
}

std::string_view read_nat_json(JsonFields& in, Record& out) {
  for (auto [ep, ip_key, port_key] :
       {std::tuple{&out.nat_remote, "nat_remote_ip", "nat_remote_port"},
        std::tuple{&out.nat_local, "nat_local_ip", "nat_local_port"}}) {
    std::string_view text;
    const JsonFields::Got ip = in.text(ip_key, text);
    uint64_t port = 0;
    const JsonFields::Got got_port = in.uint(port_key, port);
    if (ip == JsonFields::Got::Missing && got_port == JsonFields::Got::Missing) {
      *ep = Endpoint{};
      continue;
    }
    if (ip != JsonFields::Got::Ok || !parse_ip(text, ep->ip) || got_port != JsonFields::Got::Ok ||
        port > 65535)
      return "bad nat_remote_ip/nat_remote_port or nat_local_ip/nat_local_port (both of a pair, "
             "an address and a port)";
    ep->port = uint16_t(port);
  }
  return {};
}

bool same_all_fields(const Record& a, const Record& b) {
  if (a.type != b.type || !same_arrow_fields(a, b) || a.time_ns != b.time_ns || a.host != b.host)
    return false;
  const KindInfo& k = kind_info(a.type);
  if (k.same && !k.same(a, b))
    return false;
  return !k.connection ||
         (a.tid == b.tid && a.uid == b.uid && a.netns == b.netns && a.cgroup_id == b.cgroup_id &&
          same_identity(a, b) && a.nat_remote == b.nat_remote && a.nat_local == b.nat_local);
}

} // namespace nt
