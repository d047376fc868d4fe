// The Prometheus text exposition format (0.0.4) of what ServeState counted.
// Pure: a snapshot in, text out; the tests run promtool on it.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "serve/serve_state.h"

namespace nt {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// A per edge counter and the kinds that count into it. A kind of the kind
// table that carries a connection (kinds.cpp: `connection`) needs a row here
// to be counted per edge; the unit test EdgeCountersCoverEveryConnectionKind
// fails until a new kind gets one.
struct EdgeCounter {
  std::string_view metric;
  std::string_view help;
  std::span<const RecordType> kinds;
};
std::span<const EdgeCounter> edge_counters();

// Label value escaping: backslash, double quote and newline.
void append_label_value(std::string& out, std::string_view v);

// Everything but the scrape's own duration, which the caller measures and
// appends with append_scrape_duration().
std::string exposition(const MetricsSnapshot& s);
void append_scrape_duration(std::string& out, double seconds);

} // namespace nt
