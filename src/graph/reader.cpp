#include "graph/reader.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace nt {

bool read_lines(int fd, size_t max_line, LineSink& sink, std::string& error) {
  constexpr size_t kChunk = 1 << 20;
  std::vector<char> buf(kChunk);
  std::string carry;  // a line split across reads
  bool overlong = false;
  uint64_t lineno = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      error = std::strerror(errno);
      return false;
    }
    if (n == 0) break;
    const char* p = buf.data();
    const char* end = p + n;
    while (p < end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', size_t(end - p)));
      if (!nl) {
        if (!overlong) {
          carry.append(p, end);
          if (carry.size() > max_line) {
            overlong = true;
            carry.clear();
            carry.shrink_to_fit();
          }
        }
        break;
      }
      ++lineno;
      if (overlong) {
        sink.on_line({}, lineno, true);
        overlong = false;
      } else if (!carry.empty()) {
        carry.append(p, nl);
        if (carry.size() > max_line) sink.on_line({}, lineno, true);
        else sink.on_line(carry, lineno, false);
        carry.clear();
      } else if (size_t(nl - p) > max_line) {
        sink.on_line({}, lineno, true);
      } else {
        sink.on_line(std::string_view(p, size_t(nl - p)), lineno, false);
      }
      p = nl + 1;
    }
  }
  // A last line without '\n' (a trace cut off mid-write) still counts.
  if (overlong) sink.on_line({}, ++lineno, true);
  else if (!carry.empty()) sink.on_line(carry, ++lineno, false);
  return true;
}

}  // namespace nt
