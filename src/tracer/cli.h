// nettrace's command line, parsed into options (CLI11). In the library so the
// tests link it; main only calls it.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "serve/serve_config.h"
#include "tracer/options.h"

namespace nt {

enum class OutputFormat : uint8_t { Arrow, Json };

// The connections already established at start (issue 13).
enum class SnapshotMode : uint8_t {
  AtStart, // reported first, then the live events (the default)
  Only,    // --snapshot: reported, then exit
  Off,     // --no-snapshot
};

struct NettraceConfig {
  TracerOptions tracer;
  OutputFormat format = OutputFormat::Arrow;
  bool show_failed = false; // arrow: print failed connects as '# failed' lines
  bool show_close = false;  // arrow: print '# close' and '# open' lines (--close)
  bool timestamp = false;   // arrow: prefix each line with the local time (-t)
  bool info = false;
  SnapshotMode snapshot = SnapshotMode::AtStart;
  double duration_s = 0; // 0 = until stopped
  uint64_t count = 0;    // 0 = unlimited
  std::string ready_file;
  std::string user;  // drop to this user after attaching
  ServeConfig serve; // --serve
  // --nat (issue 16): look every connection end up in conntrack (nat_source.h).
  bool nat = false;
};

// Parses argv. Returns std::nullopt to go on, or an exit code to exit with
// right away (--help, --version: 0 after printing to `out`; a bad option: 1
// after one line on `err` that names the option and what it accepts). What can
// be checked without the kernel is checked here, before anything is loaded:
// that --user and a -u name exist, that --ready-file's directory is writable.
std::optional<int> parse_cli(int argc, const char* const* argv, NettraceConfig& config,
                             std::ostream& out, std::ostream& err);

// The whole program after option parsing: --info, or trace and print.
int run_nettrace(const NettraceConfig& config);

} // namespace nt
