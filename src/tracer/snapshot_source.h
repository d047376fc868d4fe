// The connections already established when nettrace starts (src/snapshot) as
// the first records of the run: a Source that wraps the live one, takes the
// snapshot on its first drain ("# snapshot N connections" and one `existing`
// record each), then passes the live records on, dropping those of
// connections it already reported (a connection established while the
// snapshot ran is seen by both).
#pragma once

#include <absl/container/flat_hash_set.h>

#include <array>
#include <cstdint>
#include <string>

#include "snapshot/snapshot.h"
#include "tracer/options.h"
#include "tracer/pipeline.h"

namespace nt {

class SnapshotSource final : public Source {
public:
  // `live` may be null (nettrace --snapshot: the snapshot alone). `say`
  // receives the snapshot's warnings and, with options.verbose, its figures.
  // `iterator`: the snapshot's BPF program loaded ahead (see
  // load_snapshot_iterator), released once the snapshot is taken.
  SnapshotSource(Source* live, TracerOptions options,
                 std::function<void(const std::string&)> say = {},
                 LoadedSnapshotIterator iterator = {});
  int fd() const override { return live_ ? live_->fd() : -1; }
  void drain(const RecordCallback& cb) override;
  bool finished() const override { return taken_ && (!live_ || live_->finished()); }
  // The live source's last records (connections still open at exit).
  void finish(const RecordCallback& cb) override {
    if (live_)
      live_->finish(cb);
  }

  uint64_t reported() const { return reported_count_; }
  // Live records dropped because the snapshot had reported their connection.
  uint64_t duplicates() const { return duplicates_; }

private:
  void take(const RecordCallback& cb);

  Source* live_;
  TracerOptions options_;
  std::function<void(const std::string&)> say_;
  LoadedSnapshotIterator iterator_;
  bool taken_ = false;
  absl::flat_hash_set<ConnectionKey> reported_;
  uint64_t forget_after_ns_ = 0; // realtime; live records after it are new connections
  uint64_t reported_count_ = 0, duplicates_ = 0;
};

} // namespace nt
