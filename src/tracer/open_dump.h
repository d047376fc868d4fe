// The connections still open when nettrace ends, with their bytes so far.
// Two ways, the first the kernel allows:
// - an iterator over the backend's owner map (bpf/open_iter.bpf.c), which
//   reads each socket's counters in the kernel, in every network namespace.
//   Loaded and its reader created at start, while nettrace still has its
//   privileges (--user drops them); it iterates when read, at exit. Kernels
//   that refuse BPF iterators (before 5.8; lockdown policies that refuse
//   tracing attach types, as on hosts where fentry is refused) cannot.
// - user space reads the owner map at exit and takes each connection's
//   counters from sock_diag (tcp_info), entering the connection's network
//   namespace through /proc/PID/ns/net of its owner or closer when it is not
//   ours. A connection whose namespace cannot be entered is still reported,
//   with zero counters, and counted (bytes_unknown()).
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
  // Never null: falls back to reading the map (iterator_failure() says why).
  static std::unique_ptr<OpenDump> open(int owners_fd);
  ~OpenDump();
  OpenDump(const OpenDump&) = delete;
  OpenDump& operator=(const OpenDump&) = delete;

  // One record (RecordType::Open) per connection still open; once only.
  // Returns how many, or -1 if reading failed.
  int read(const ClockOffset& clock, const RecordCallback& cb);
  const std::string& iterator_failure() const { return iterator_failure_; }
  const std::string& failure() const { return failure_; }
  uint64_t bytes_unknown() const { return bytes_unknown_; }

private:
  OpenDump() = default;
  bool open_iterator(int owners_fd);
  int read_iterator(const ClockOffset& clock, const RecordCallback& cb);
  int read_map(const ClockOffset& clock, const RecordCallback& cb);
  struct SkelDeleter {
    void operator()(open_iter* s) const noexcept;
  };
  struct LinkDeleter {
    void operator()(bpf_link* l) const noexcept;
  };
  std::unique_ptr<open_iter, SkelDeleter> skel_;
  std::unique_ptr<bpf_link, LinkDeleter> link_;
  UniqueFd reader_;
  UniqueFd owners_; // map mode: our own descriptor of the owner map
  std::string iterator_failure_, failure_;
  uint64_t bytes_unknown_ = 0;
};

} // namespace nt
