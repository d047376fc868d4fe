// Many small pieces appended to one std::string through a raw pointer: one
// capacity check and one length update for the lot, where every
// std::string::append and push_back checks and updates both. Formatting a
// record is a dozen such pieces; done piece by piece they were half of
// nettrace's user-space instructions per record (callgrind: 655 for one
// "1.2.3.4:80", 2,569 per record with its close; BENCHMARKS.md, issue 18).
// Internal to src/trace.
#pragma once

#include <cassert>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace nt {

class RawAppend {
public:
  // Room for `max` bytes after what `out` holds; at most that many may be
  // written (checked by assert in debug and sanitizer builds).
  RawAppend(std::string& out, size_t max) : out_(out) {
    const size_t at = out.size();
    out.resize(at + max);
    p_ = out.data() + at;
    end_ = p_ + max;
  }
  ~RawAppend() {
    assert(p_ <= end_);
    out_.resize(size_t(p_ - out_.data()));
  }
  RawAppend(const RawAppend&) = delete;
  RawAppend& operator=(const RawAppend&) = delete;

  void ch(char c) { *p_++ = c; }
  void str(std::string_view s) {
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void uint(uint64_t v) { p_ = std::to_chars(p_, end_, v).ptr; }
  // For writers that take a buffer (inet_ntop): the place, and how much was
  // written there.
  char* at() { return p_; }
  size_t room() const { return size_t(end_ - p_); }
  void advance(size_t n) { p_ += n; }

private:
  std::string& out_;
  char* p_;
  char* end_;
};

} // namespace nt
