#include "graph/reader.h"

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace nt {
namespace {

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

} // namespace

namespace {

// With a ReadStop: waits until `fd` has input (or end of file). False when
// reading should end: the grace time after *stop ran out. -1 on error.
int wait_readable(int fd, const ReadStop& s, timespec& deadline, bool& stopping) {
  for (;;) {
    if (*s.stop && !stopping) {
      stopping = true;
      clock_gettime(CLOCK_MONOTONIC, &deadline);
      deadline.tv_sec += s.grace_ms / 1000;
      deadline.tv_nsec += long(s.grace_ms % 1000) * 1000000;
      if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_nsec -= 1000000000;
        ++deadline.tv_sec;
      }
    }
    timespec left{}, *timeout = nullptr;
    if (stopping) {
      timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      left.tv_sec = deadline.tv_sec - now.tv_sec;
      left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
      if (left.tv_nsec < 0) {
        left.tv_nsec += 1000000000;
        --left.tv_sec;
      }
      if (left.tv_sec < 0)
        return 0;
      timeout = &left;
    }
    pollfd p{fd, POLLIN, 0};
    int n = ppoll(&p, 1, timeout, s.wait_mask);
    if (n > 0)
      return 1; // input, end of file or an error read() will report
    if (n == 0)
      return 0; // grace time over
    if (errno != EINTR)
      return -1;
  }
}

} // namespace

bool read_lines(int fd, size_t max_line, LineSink& sink, std::string& error, const ReadStop* stop) {
  timespec deadline{};
  bool stopping = false;
  // 64 KiB: the kernel copies each read into the buffer and the parser reads
  // it right after, while it is still in the core's caches. With 128 KiB
  // netgraph took 12% more time on the same 110 MB (best of 9, one core);
  // 32 KiB was no faster than 64.
  constexpr size_t kChunk = 1 << 16;
  std::vector<char> buf(kChunk);
  std::string carry;     // a line split across reads
  bool overlong = false; // the line being carried is past max_line
  uint64_t lineno = 0;
  for (;;) {
    if (stop) {
      int ready = wait_readable(fd, *stop, deadline, stopping);
      if (ready < 0) {
        error = std::strerror(errno);
        return false;
      }
      if (ready == 0)
        break; // finish now: what was read is drawn
    }
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR)
        continue;
      error = std::strerror(errno);
      return false;
    }
    if (n == 0)
      break;
    const char* start = buf.data(); // of the line being read
    const char* const end = start + n;
    for_each_newline(start, end, [&](const char* nl) {
      ++lineno;
      if (overlong) {
        sink.on_line({}, lineno, true);
        overlong = false;
      } else if (!carry.empty()) {
        carry.append(start, nl);
        if (carry.size() > max_line)
          sink.on_line({}, lineno, true);
        else
          sink.on_line(carry, lineno, false);
        carry.clear();
      } else if (size_t(nl - start) > max_line) {
        sink.on_line({}, lineno, true);
      } else {
        sink.on_line(std::string_view(start, size_t(nl - start)), lineno, false);
      }
      start = nl + 1;
    });
    // The rest waits for the next read; past max_line it is only counted.
    if (start < end && !overlong) {
      carry.append(start, end);
      if (carry.size() > max_line) {
        overlong = true;
        carry.clear();
        carry.shrink_to_fit();
      }
    }
  }
  // A last line without '\n' (a trace cut off mid-write) still counts.
  if (overlong)
    sink.on_line({}, ++lineno, true);
  else if (!carry.empty())
    sink.on_line(carry, ++lineno, false);
  return true;
}

} // namespace nt
