#include "trace/kinds.h"

#include <linux/types.h>

#include <array>
#include <charconv>

#include "trace/format.h"
#include "trace/parse.h"

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
  out.inbound = dir == "in";
  return {};
}

bool existing_same(const Record& a, const Record& b) {
  return a.inbound == b.inbound;
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
    KindInfo{RecordType::Existing, "existing", 0, ArrowForm::Line, Side::FromRecord, true, true, "",
             "existing connection", "existing connections", nullptr, nullptr, nullptr,
             existing_read_json, existing_same},
    KindInfo{RecordType::Snapshot, "snapshot", 0, ArrowForm::Marker, Side::None, false, false, "",
             "", "", snapshot_args, snapshot_parse_args, snapshot_json, snapshot_read_json,
             snapshot_same},
};

constexpr bool rows_in_order() {
  for (size_t i = 0; i < kKinds.size(); ++i)
    if (size_t(kKinds[i].type) != i)
      return false;
  return true;
}
static_assert(rows_in_order(), "kKinds rows must follow RecordType's order");

} // namespace

std::span<const KindInfo> kinds() {
  return kKinds;
}

const KindInfo& kind_info(RecordType t) {
  return kKinds[size_t(t)];
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

bool same_all_fields(const Record& a, const Record& b) {
  if (a.type != b.type || !same_arrow_fields(a, b) || a.time_ns != b.time_ns || a.host != b.host)
    return false;
  const KindInfo& k = kind_info(a.type);
  if (k.same && !k.same(a, b))
    return false;
  return !k.connection ||
         (a.tid == b.tid && a.uid == b.uid && a.netns == b.netns && a.cgroup_id == b.cgroup_id);
}

} // namespace nt
