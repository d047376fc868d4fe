// The sink nettrace writes its output through: arrow lines (the established
// format) or JSON lines, gathered per tick in one reused buffer and written
// with one write(2), with an exact account of what went out.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "trace/kinds.h"
#include "tracer/clock_prefix.h"
#include "tracer/pipeline.h"

namespace nt {

struct LineSinkOptions {
  bool json = false;
  bool show_all = false;                // arrow: also every kind shown only when asked
  std::vector<std::string> shown_with;  // arrow: the kinds shown with these options ("--close")
  bool timestamp = false;               // arrow: local time before each line (-t)
  uint64_t count = 0;                   // stop after this many connections; 0 = no limit
  std::string count_option = "--count"; // for the summary's words
};

class LineSink final : public Sink {
public:
  // Writes to `fd` (not owned). Throws TracerError when a write fails for any
  // reason but a closed reader.
  LineSink(int fd, LineSinkOptions options);
  int fd() const override { return fd_; }
  void record(const Record& r) override;
  bool tick() override;
  bool wants_more() const override { return !options_.count || connections_ < options_.count; }
  void reader_gone() override { closed_ = true; }

  // "3 connections and 1 failed connect written, 2 failed connects not shown
  // (add --failed), ..." : what went out and what did not, and why.
  std::string summary() const;

private:
  int fd_;
  LineSinkOptions options_;
  ClockPrefix clock_;
  std::string buf_;
  std::vector<std::pair<size_t, RecordType>> pending_; // end offset in buf_ of each line
  uint64_t connections_ = 0;                           // formatted, for --count
  std::vector<uint64_t> written_, hidden_;             // by kind
  uint64_t after_count_ = 0, unwritten_ = 0;
  bool closed_ = false;
  Record nat_; // reused: the "# nat" marker written after a translated connection
};

} // namespace nt
