// The connections still open when nettrace ends, with their bytes so far:
// an iterator over the backend's owner map (bpf/open_iter.bpf.c). Loaded and
// its reader created at start, while nettrace still has its privileges
// (--user drops them); the iteration itself runs when the reader is read, at
// exit.
#pragma once

#include <memory>
#include <string>

#include "tracer/event_decode.h"
#include "tracer/pipeline.h"
#include "util/unique_fd.h"

struct open_iter;
struct bpf_link;

namespace nt {

class OpenDump {
public:
  // Null, with the reason in `why`, when the kernel refuses the iterator.
  static std::unique_ptr<OpenDump> open(int owners_fd, std::string& why);
  ~OpenDump();
  OpenDump(const OpenDump&) = delete;
  OpenDump& operator=(const OpenDump&) = delete;

  // One record (RecordType::Open) per connection still open; once only.
  // Returns how many, or -1 if reading failed.
  int read(const ClockOffset& clock, const RecordCallback& cb);

private:
  OpenDump() = default;
  struct SkelDeleter {
    void operator()(open_iter* s) const noexcept;
  };
  struct LinkDeleter {
    void operator()(bpf_link* l) const noexcept;
  };
  std::unique_ptr<open_iter, SkelDeleter> skel_;
  std::unique_ptr<bpf_link, LinkDeleter> link_;
  UniqueFd reader_;
};

} // namespace nt
