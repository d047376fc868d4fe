// The identity of the processes nettrace reports, beyond pid and comm (issue
// 13): exe, command line, cgroup v2 path and what it names (container, pod,
// QoS class, systemd unit). The kernel gives pid and start time with every
// event; the rest is read from /proc once, on the first sight of a process,
// and kept in a bounded cache keyed by (pid, start time), so an event costs a
// hash lookup and no syscall.
//
// What is lost: a process that has exited (or whose pid was reused) before its
// first record is read gets empty fields, and is counted (gone()). The fields
// are as at first sight: a process that execs later keeps its first exe and
// command line (re-reading on a changed comm would cost a syscall per event
// for programs whose threads name themselves).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

#include "trace/record.h"
#include "tracer/pipeline.h"

namespace nt {

class IdentityCache {
public:
  // At most this many processes are kept; the oldest sighting goes first.
  static constexpr size_t kDefaultCapacity = 8192;
  // The command line kept, in bytes (longer ones are cut).
  static constexpr size_t kCmdlineMax = 1024;

  explicit IdentityCache(size_t capacity = kDefaultCapacity, std::string proc_root = "/proc");

  // Sets r's exe, cmdline, cgroup, container, pod, pod_qos and unit for its
  // (pid, start_ns). Records without a process (pid 0) are left alone.
  void fill(Record& r);

  uint64_t looked_up() const { return looked_up_; } // /proc reads (first sightings)
  uint64_t gone() const { return gone_; }           // processes gone before first sight
  size_t size() const { return entries_.size(); }

private:
  struct Key {
    uint32_t pid;
    uint64_t start_ticks; // start_ticks_of(start_ns)
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const {
      return std::hash<uint64_t>{}(k.start_ticks * 0x9e3779b97f4a7c15ull ^ k.pid);
    }
  };
  struct Entry {
    std::string exe, cmdline, cgroup, container, pod, pod_qos, unit;
  };
  void read_proc(const Record& r, Entry& e);

  size_t capacity_;
  std::string proc_root_;
  std::unordered_map<Key, Entry, KeyHash> entries_;
  std::deque<Key> order_; // first sightings, oldest first (eviction order)
  uint64_t looked_up_ = 0;
  uint64_t gone_ = 0;
};

// A source whose connection records carry the identity: wraps another source
// (the tracer, or the snapshot ahead of it) and fills each record from the
// cache before passing it on.
class IdentitySource final : public Source {
public:
  IdentitySource(Source& inner, IdentityCache& cache) : inner_(inner), cache_(cache) {}
  int fd() const override { return inner_.fd(); }
  void drain(const RecordCallback& cb) override;
  bool finished() const override { return inner_.finished(); }
  void finish(const RecordCallback& cb) override;

private:
  void pass(const Record& r, const RecordCallback& cb);
  Source& inner_;
  IdentityCache& cache_;
  Record record_; // reused: its strings keep their buffers
};

} // namespace nt
