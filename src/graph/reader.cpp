#include "graph/reader.h"

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace nt {

void LineConsumer::on_lines(const char* begin, const char* end, size_t max_line, uint64_t& lineno) {
  for_each_newline(begin, end, [&](const char* nl) {
    ++lineno;
    if (size_t(nl - begin) > max_line)
      on_line({}, lineno, true);
    else
      on_line(std::string_view(begin, size_t(nl - begin)), lineno, false);
    begin = nl + 1;
  });
}

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

bool read_lines(int fd, size_t max_line, LineConsumer& sink, std::string& error,
                const ReadStop* stop) {
  timespec deadline{};
  bool stopping = false;
  // 64 KiB: the kernel copies each read into the buffer and the parser reads
  // it right after, while it is still in the core's caches. With 128 KiB
  // netgraph took 12% more time on the same 110 MB (best of 9, one core);
  // 32 KiB was no faster than 64.
  constexpr size_t kChunk = 1 << 16;
  // Padded: a sink's on_lines() may read a little past the last line (a
  // 16-byte load that starts before its end); the padding is never input.
  constexpr size_t kPad = 64;
  std::vector<char> buf(kChunk + kPad);
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
    ssize_t n = ::read(fd, buf.data(), kChunk);
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
    if (overlong || !carry.empty()) {
      // The end of the line carried from the last read, if this read has it.
      const char* nl = static_cast<const char*>(std::memchr(start, '\n', size_t(n)));
      if (nl) {
        ++lineno;
        if (!overlong)
          carry.append(start, nl);
        if (overlong || carry.size() > max_line)
          sink.on_line({}, lineno, true);
        else
          sink.on_line(carry, lineno, false);
        overlong = false;
        carry.clear();
        start = nl + 1;
      } else {
        start = end; // all of it continues the carried line
        if (!overlong) {
          carry.append(buf.data(), size_t(n));
          if (carry.size() > max_line) {
            overlong = true;
            carry.clear();
            carry.shrink_to_fit();
          }
        }
      }
    }
    // The whole lines, in one call.
    if (start < end) {
      const char* last = static_cast<const char*>(memrchr(start, '\n', size_t(end - start)));
      if (last) {
        sink.on_lines(start, last + 1, max_line, lineno);
        start = last + 1;
      }
    }
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
