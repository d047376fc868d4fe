#include "tracer/snapshot_source.h"

#include <cstring>
#include <ctime>

#include "snapshot/snapshot.h"
#include "trace/kinds.h"

namespace nt {
namespace {

uint64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// How long after the snapshot a live record may still be one of its
// connections: an accept reported at the syscall's exit, a record that sat in
// the ring buffer. A live connect or accept with the same ends and namespace
// after that is a new connection that reuses the 4-tuple.
constexpr uint64_t kOverlapNs = 1000000000ull;

} // namespace

SnapshotSource::SnapshotSource(Source* live, TracerOptions options,
                               std::function<void(const std::string&)> say,
                               LoadedSnapshotIterator iterator)
    : live_(live), options_(std::move(options)), say_(std::move(say)),
      iterator_(std::move(iterator)) {}

void SnapshotSource::take(const RecordCallback& cb) {
  taken_ = true;
  Record marker;
  uint64_t shared = 0, other_holders = 0; // sockets several processes hold, and those others
  const SnapshotSummary summary = for_each_existing(
      options_,
      [&](const ExistingConnection& c) {
        Record r = c.record;
        r.side = r.type == RecordType::Accept ? Side::In : Side::Out;
        r.type = RecordType::Existing;
        if (live_)
          reported_.insert(connection_key(r));
        ++reported_count_;
        shared += c.other_holders > 0;
        other_holders += c.other_holders;
        cb(r);
      },
      SnapshotMethod::Auto,
      [&](uint64_t n) {
        if (n == 0)
          return; // nothing follows: no marker (the lines stay what they were)
        marker.type = RecordType::Snapshot;
        marker.count = n;
        marker.has_details = true;
        marker.time_ns = realtime_ns();
        cb(marker);
      },
      iterator_.get());
  iterator_.reset();
  forget_after_ns_ = realtime_ns() + kOverlapNs;
  if (!say_)
    return;
  // Warnings say what the snapshot could not read (it is incomplete); the
  // library's lines start with "snapshot: ".
  for (const std::string& w : summary.warnings)
    say_("nettrace: " + w);
  if (options_.verbose && !summary.fallback.empty())
    say_("nettrace: " + summary.fallback);
  if (options_.verbose) {
    const SnapshotStats& s = summary.stats;
    say_("nettrace: snapshot: " + std::to_string(s.connections) + " existing connections in " +
         std::to_string(s.elapsed_ns / 1000000) + " ms (" +
         (s.method == SnapshotMethod::Iterator ? "BPF iterator" : "/proc and sock_diag") + ", " +
         std::to_string(s.netns) + " network namespaces, " + std::to_string(s.processes) +
         " processes)");
    // One owner each (the lowest pid that passes the filters, snapshot.h);
    // the other holders are counted here.
    if (shared)
      say_("nettrace: snapshot: " + std::to_string(shared) +
           " connections are also held by other processes (fork, SCM_RIGHTS; " +
           std::to_string(other_holders) +
           " holders more): each is reported once, owned by its holder with the lowest pid");
  }
}

void SnapshotSource::drain(const RecordCallback& cb) {
  if (!taken_)
    take(cb);
  if (!live_)
    return;
  if (reported_.empty()) {
    live_->drain(cb);
    return;
  }
  live_->drain([&](const Record& r) {
    if (kind_info(r.type).pairs && r.time_ns <= forget_after_ns_ &&
        reported_.contains(connection_key(r))) {
      ++duplicates_;
      return;
    }
    cb(r);
  });
  if (realtime_ns() > forget_after_ns_)
    reported_ = {}; // bounded: kept only while live records can overlap
}

} // namespace nt
