// Streams lines out of a file descriptor: fixed 64 KiB reads, each read's
// whole lines handed to the sink in one call (on_lines), as string_views into
// the buffer. Memory stays bounded by the longest line kept (max_line), not
// by the input.
#pragma once

#include <signal.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace nt {

struct LineConsumer {
  virtual ~LineConsumer() = default;
  // `line` excludes the '\n'. `overlong` means the line exceeded max_line and
  // was discarded (line is then empty).
  virtual void on_line(std::string_view line, uint64_t lineno, bool overlong) = 0;
  // Whole lines in the read buffer: [begin, end) ends with '\n' and holds
  // no line that began in an earlier read. `lineno` is the number of the line
  // before `begin`; on return, of the last line. The default hands each line
  // to on_line(); a sink overrides it to read a block's lines in one loop,
  // without a virtual call and the reader's bookkeeping per line (netgraph:
  // a tenth of its time). Bytes past `end` may be read (the reader pads its
  // buffer) but are not part of the input.
  virtual void on_lines(const char* begin, const char* end, size_t max_line, uint64_t& lineno);
};

// The first '\n' at or after p, where one is known to come before the end
// of the read buffer and 64 bytes from p may be read (the reader pads its
// buffer). Looks at 64 bytes at a time from the line's start: a trace line
// is about 55 bytes, so one look usually finds it, and whether it does is a
// branch the CPU predicts. (Walking the buffer 16 bytes at a time, whether
// each 16 held a newline was a coin toss, mispredicted about once a line.)
inline const char* next_newline(const char* p) {
#if defined(__SSE2__)
  const __m128i nl = _mm_set1_epi8('\n');
  for (;; p += 64) {
    auto at = [&](int i) {
      return uint64_t(uint32_t(_mm_movemask_epi8(
          _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)), nl))));
    };
    const uint64_t mask = at(0) | at(16) << 16 | at(32) << 32 | at(48) << 48;
    if (mask)
      return p + __builtin_ctzll(mask);
  }
#else
  while (*p != '\n')
    ++p;
  return p;
#endif
}

// Calls on_nl(position) for every '\n' in [p, end), in order. A trace line is
// about 55 bytes: a memchr call per line cost more than the byte compares
// themselves, so with SSE2 (every x86-64) 16 bytes are compared at once and
// the matches walked as bits.
template <typename F> void for_each_newline(const char* p, const char* end, F&& on_nl) {
#if defined(__SSE2__)
  const __m128i nl = _mm_set1_epi8('\n');
  for (; end - p >= 16; p += 16) {
    unsigned mask = unsigned(_mm_movemask_epi8(
        _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), nl)));
    while (mask) {
      on_nl(p + __builtin_ctz(mask));
      mask &= mask - 1;
    }
  }
#endif
  for (; p < end; ++p)
    if (*p == '\n')
      on_nl(p);
}

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
bool read_lines(int fd, size_t max_line, LineConsumer& sink, std::string& error,
                const ReadStop* stop = nullptr);

} // namespace nt
