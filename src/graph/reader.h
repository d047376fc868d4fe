// Streams lines out of a file descriptor: fixed 128 KiB reads, lines found 16
// bytes at a time and handed out as string_views into the buffer. Memory
// stays bounded by the longest line kept (max_line), not by the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace nt {

struct LineSink {
  virtual ~LineSink() = default;
  // `line` excludes the '\n'. `overlong` means the line exceeded max_line and
  // was discarded (line is then empty).
  virtual void on_line(std::string_view line, uint64_t lineno, bool overlong) = 0;
};

// Returns false with errno-style text in `error` if reading fails.
bool read_lines(int fd, size_t max_line, LineSink& sink, std::string& error);

} // namespace nt
