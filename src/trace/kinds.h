// Event kinds are data. One row per kind (kinds.cpp) says what the kind is
// called, how the kernel numbers it, how it is written as an arrow line and as
// JSON, how it is read back, whether netgraph pairs it as a connection end and
// how nettrace's exit summary counts it. Formatting and parsing (format.cpp,
// parse.cpp), the tracer's decoder and run loop, netgraph and the fuzz checks
// all read the table instead of switching on the kind; a new kind is a new row
// and the few functions for its own fields, next to the row.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "trace/record.h"

namespace nt {

// How a kind is written in arrow output.
enum class ArrowForm : uint8_t {
  Line,       // a plain connection line: <remote><-<local>|PID=<pid> CMD=<comm>
  Marker,     // "# <name> <args>": no connection line
  MarkedLine, // "# <name> <args> " and then a connection line
};

// What a kind's JSON reader asks of the line's object; parse.cpp implements it
// over its JSON library, so the table needs none.
class JsonFields {
public:
  enum class Got : uint8_t { Ok, Missing, Bad };
  virtual Got uint(std::string_view key, uint64_t& out) = 0;
  virtual Got text(std::string_view key, std::string_view& out) = 0;

protected:
  ~JsonFields() = default;
};

struct KindInfo {
  RecordType type;
  std::string_view name; // JSON "type"; for markers also the word after "# "
  uint16_t bpf_kind;     // enum nt_event_kind (bpf/nettrace_event.h); 0 = made in user space
  ArrowForm arrow;
  Side side;       // FromRecord: the record's side (side_of)
  bool connection; // carries the 4-tuple and the process (pid, comm, ...)
  bool pairs;      // a connection end: netgraph pairs it with the other end
  // Arrow output shows it only with this option ("--failed"); "": always.
  std::string_view shown_with;
  // How nettrace's exit summary counts it; empty for markers it does not count.
  std::string_view one, many;

  // The kind's own fields; null when it has none.
  // Marker arguments, written after "# <name> " (no trailing space).
  void (*append_args)(std::string& out, const Record& r) = nullptr;
  // Reads them from the front of `args` and leaves `args` after them (and the
  // space that follows, for a MarkedLine). Returns "" or why not.
  std::string_view (*parse_args)(std::string_view& args, Record& out) = nullptr;
  // JSON members after the common ones, each written ",\"key\":value".
  void (*append_json)(std::string& out, const Record& r) = nullptr;
  // Reads them back. Returns "" or why not.
  std::string_view (*read_json)(JsonFields& in, Record& out) = nullptr;
  // Whether two records agree on the kind's own fields (round-trip checks).
  bool (*same)(const Record& a, const Record& b) = nullptr;
};

// The identity's text fields (issue 13), in the order JSON writes them after
// the numbers ppid and start_ns: what every connection kind carries beside
// pid and comm. Written escaped like comm and only when not empty; read back
// the same way. One table, so the formatter, the parser and the round-trip
// checks cannot disagree on the list.
struct IdentityField {
  std::string_view key; // JSON member
  std::string Record::*member;
};
inline constexpr size_t kIdentityFieldCount = 7;
std::span<const IdentityField, kIdentityFieldCount> identity_fields();

// Every kind, in RecordType order.
std::span<const KindInfo> kinds();
const KindInfo& kind_info(RecordType t);
// By JSON type or marker name; null if none.
const KindInfo* kind_by_name(std::string_view name);
// By the kernel's event kind; null if none.
const KindInfo* kind_by_bpf(uint16_t bpf_kind);

// The side of a record: its kind's, or its own where the kind says FromRecord.
inline Side side_of(const Record& r) {
  const Side s = kind_info(r.type).side;
  return s == Side::FromRecord ? r.side : s;
}

// "local", "peer", "local_reset", "peer_reset", "error", "unknown"; and back
// (false if none).
std::string_view closed_by_name(ClosedBy c);
bool closed_by_from_name(std::string_view name, ClosedBy& out);

// "connect", "accept", "failed", "lost".
inline std::string_view type_name(RecordType t) {
  return kind_info(t).name;
}

// Which end a record is: its kind's side, or for Side::FromRecord kinds its
// own (Record::side), given the row already looked up.
inline Side record_side(const KindInfo& k, const Record& r) {
  return k.side != Side::FromRecord ? k.side : r.side;
}

// NAT (issue 16): the nat_remote_ip/_port and nat_local_ip/_port JSON
// members of a record that has them (none otherwise), and back: a pair left
// out is not translated. Returns "" or why not.
void append_nat_json(std::string& out, const Record& r);
std::string_view read_nat_json(JsonFields& in, Record& out);

// Whether two records carry the same fields in arrow form (everything an
// arrow line or marker holds). A plain line reads back as a connect or an
// accept whatever kind wrote it (an existing connection is a plain line), so
// kinds written as plain lines compare by their side.
bool same_arrow_fields(const Record& a, const Record& b);
// ... and in JSON (every field).
bool same_all_fields(const Record& a, const Record& b);

} // namespace nt
