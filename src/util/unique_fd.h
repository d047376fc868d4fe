// Owners for the raw descriptors both programs open: a file descriptor closes
// when its owner goes, on every return and every exception, exactly once.
// Header-only so nt_trace, nt_tracer and nt_graph share it without a library.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <memory>

namespace nt {

// Owns one file descriptor (-1 = none). Moves hand it over; copies would close
// it twice, so there are none. Never throws: a failed close(2) on the way out
// has nobody to tell, and callers that care use close() and read its result.
class UniqueFd {
public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other)
      reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  // Gives the descriptor up without closing it (to fdopen, say).
  int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  // Closes the one held (if any, and unless it is `fd` itself) and takes `fd`.
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0 && fd_ != fd)
      ::close(fd_);
    fd_ = fd;
  }
  // Closes now and says how that went: 0, or -1 with errno (as close(2)).
  int close() noexcept {
    const int fd = release();
    return fd >= 0 ? ::close(fd) : 0;
  }

private:
  int fd_ = -1;
};

// Owns a FILE* from fopen/fdopen: fclose on the way out. Callers that must know
// whether the last buffered write reached the file fclose(release()) instead.
struct FileCloser {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
using UniqueFile = std::unique_ptr<std::FILE, FileCloser>;

} // namespace nt
