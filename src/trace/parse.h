// Parsing of trace lines: arrow lines (including the bpftrace prototype's
// output), '#' markers and JSON lines, auto-detected per line. Pure: a line in,
// a record out, no I/O. The Record's strings are reused, so a caller that keeps
// one Record across lines does no allocation per line in the steady state.
#pragma once

#include <memory>
#include <string_view>

#include "trace/record.h"

namespace nt {

enum class ParseKind : uint8_t {
  Record, // `out` holds an event (connect, accept, failed or lost)
  Skip,   // blank line, comment, or a known banner ("Attaching 5 probes...")
  Error,  // not a trace line; `error` says why
};

struct ParseResult {
  ParseKind kind = ParseKind::Skip;
  std::string_view error; // static text, empty unless kind == Error
};

// A plain arrow line as nettrace writes it, before its process part is read:
// for readers that look processes up by their text (netgraph) and read the
// pid and name only the first time a text comes (parse_arrow_tail).
struct ArrowView {
  RecordType type = RecordType::Connect; // Connect ("<-") or Accept ("->")
  Endpoint local, remote;
  std::string_view tail; // what follows "|PID=": "<pid> CMD=<name>", to the end
};

// Reads a tail as parse() would: pid and name (unescaped). False if it is not
// in the plain form; parse() then gives what the line holds, or the error.
bool parse_arrow_tail(std::string_view tail, uint32_t& pid, std::string& comm);

// Holds the reusable state of the JSON reader. One per thread.
class LineParser {
public:
  LineParser();
  ~LineParser();
  LineParser(const LineParser&) = delete;
  LineParser& operator=(const LineParser&) = delete;

  ParseResult parse(std::string_view line, Record& out);
  // The same without the one-pass reader of common arrow lines (which must
  // agree with it: tests/fuzz checks that).
  ParseResult parse_general(std::string_view line, Record& out);
  // The head of a plain arrow line, or false (then use parse()). When both
  // this and parse_arrow_tail(out.tail) succeed, parse() gives that record:
  // it is made of the same two steps.
  bool parse_arrow_view(std::string_view line, ArrowView& out);

private:
  ParseResult parse_stripped(std::string_view line, Record& out); // after reset and '\r'
  struct Json;
  std::unique_ptr<Json> json_;
};

// Convenience: parses with a thread-local LineParser.
ParseResult parse_line(std::string_view line, Record& out);
ParseResult parse_line_general(std::string_view line, Record& out);

// Building blocks, exposed for tests.
bool parse_ip(std::string_view text, IpAddr& out);
bool parse_endpoint(std::string_view text, Endpoint& out);
int errno_from_name(std::string_view name); // 0 if unknown

} // namespace nt
