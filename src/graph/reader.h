// Streams lines out of a file descriptor: fixed 128 KiB reads, lines found 16
// bytes at a time and handed out as string_views into the buffer. Memory
// stays bounded by the longest line kept (max_line), not by the input.
#pragma once

#include <signal.h>

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

// How a stream's reading can be ended early ("finish now", as SIGINT asks of
// netgraph at the end of a pipeline): read_lines() then waits for input with
// ppoll(), letting the signals in `wait_mask` in only there (the caller
// blocks them otherwise, so none is lost between a check and a wait). Once
// *stop is set it reads what the writer still sends (until end of file) for
// at most grace_ms, then returns as at end of file.
struct ReadStop {
  const volatile int* stop = nullptr;
  const sigset_t* wait_mask = nullptr; // signal mask during the wait
  int grace_ms = 1000;
};

// Returns false with errno-style text in `error` if reading fails. With
// `stop`, true also when reading ended because *stop was set.
bool read_lines(int fd, size_t max_line, LineSink& sink, std::string& error,
                const ReadStop* stop = nullptr);

} // namespace nt
