// Shared checks of the two fuzz targets: whatever the bytes, parse_line gives an
// error or a value, never both; its one-pass reader of common arrow lines
// agrees with the general parser, the first time and the second (nothing kept
// from one line may change the next one's result); and a parsed record
// survives being formatted and parsed again.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "trace/format.h"
#include "trace/kinds.h"
#include "trace/parse.h"
#include "trace/record.h"

namespace nt::fuzz {

[[noreturn]] inline void fail(const char* what, std::string_view input, const std::string& text) {
  std::fprintf(stderr, "fuzz invariant broken: %s\ninput: %.*s\nformatted: %s\n", what,
               static_cast<int>(input.size()), input.data(), text.c_str());
  std::abort();
}

// What an arrow line and a JSON line must carry through a round trip comes
// from the kind table (same_arrow_fields, same_all_fields in trace/kinds.h).

inline void check_line(std::string_view line) {
  Record rec;
  const ParseResult res = parse_line(line, rec);
  Record general;
  const ParseResult res_general = parse_line_general(line, general);
  if (res.kind != res_general.kind || res.error != res_general.error ||
      rec.has_details != general.has_details || rec.error != general.error ||
      rec.lost != general.lost || !same_all_fields(rec, general))
    fail("the fast arrow path and the general parser disagree", line, std::string(res.error));
  // Again: whatever the parser kept from the first time changes nothing.
  Record twice;
  const ParseResult res_twice = parse_line(line, twice);
  if (res_twice.kind != res.kind || res_twice.error != res.error || !same_all_fields(rec, twice))
    fail("a second parse of the same line disagrees", line, std::string(res.error));
  const bool is_value = res.kind == ParseKind::Record;
  const bool is_error = res.kind == ParseKind::Error;
  if (is_error == !res.error.empty()) {
    // An error must say why; a value or skip must carry no error text.
  } else {
    fail("error text present xor kind==Error", line, std::string(res.error));
  }
  if (!is_value)
    return;

  std::string text;
  append_arrow(text, rec);
  if (text.empty() || text.back() != '\n' || text.find('\n') != text.size() - 1)
    fail("arrow output is not exactly one line", line, text);
  Record again;
  std::string_view body(text.data(), text.size() - 1);
  if (parse_line(body, again).kind != ParseKind::Record)
    fail("arrow output does not parse", line, text);
  if (!same_arrow_fields(rec, again))
    fail("arrow round trip changed the record", line, text);

  text.clear();
  append_json(text, rec);
  if (text.empty() || text.back() != '\n' || text.find('\n') != text.size() - 1)
    fail("json output is not exactly one line", line, text);
  Record again_json;
  body = std::string_view(text.data(), text.size() - 1);
  if (parse_line(body, again_json).kind != ParseKind::Record)
    fail("json output does not parse", line, text);
  if (rec.has_details && !same_all_fields(rec, again_json))
    fail("json round trip changed the record", line, text);
  if (!same_arrow_fields(rec, again_json))
    fail("json round trip changed the arrow fields", line, text);

  // NAT (issue 16): a translated connection's '# nat' marker (what nettrace
  // --nat writes after its arrow line) reads back as the same translation.
  if (kind_info(rec.type).connection && rec.has_nat()) {
    Record marker;
    marker.type = RecordType::Nat;
    marker.nat_remote = rec.nat_remote;
    marker.nat_local = rec.nat_local;
    text.clear();
    append_arrow(text, marker);
    Record back;
    body = std::string_view(text.data(), text.size() - 1);
    if (parse_line(body, back).kind != ParseKind::Record || back.type != RecordType::Nat ||
        back.nat_remote != rec.nat_remote || back.nat_local != rec.nat_local)
      fail("the '# nat' marker of a translated connection does not read back", line, text);
  }
}

} // namespace nt::fuzz
