// Filters are data: one row per filter (filters.cpp) declares its option on
// nettrace's command line and writes its value into the kernel's config
// (struct nt_config, bpf/nettrace_event.h), whose test runs in
// bpf/common.bpf.h. A new filter is a field in TracerOptions (the library's
// typed API), a row here, and its field and test on the BPF side.
#pragma once

#include <functional>
#include <span>
#include <string>

#include "tracer/options.h"

namespace CLI {
class App;
}
struct nt_config;

namespace nt {

// Runs once the command line is parsed: cross-checks and conversions that
// need every value. Returns "" or the one-line error (without "nettrace: ").
using AfterParse = std::function<std::string()>;

struct FilterRow {
  const char* option; // as a user types it ("--pid"), for docs and tests
  // Adds the option(s) to `app`, writing into `o` as they are parsed.
  AfterParse (*declare)(CLI::App& app, TracerOptions& o);
  // Writes the filter's value into the kernel's config. Throws TracerError
  // (kExitUsage) on a value the command line would have refused, for library
  // users who fill TracerOptions themselves.
  void (*apply)(const TracerOptions& o, nt_config& c);
};

std::span<const FilterRow> filters();

} // namespace nt
