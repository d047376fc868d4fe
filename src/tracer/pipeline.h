// nettrace's one event pipeline: sources of records (the ring buffer today;
// a snapshot, a conntrack lookup or a replayed file can be others), sinks that
// receive them (arrow or JSON lines; an in-memory map a server reads), and one
// loop that waits on a single epoll set holding every source's and every
// sink's descriptor, drains the sources every tick and lets the sinks write.
// run_nettrace is: parse options, open sources, open sinks, run the loop.
#pragma once

#include <array>
#include <csignal>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "trace/record.h"
#include "util/unique_fd.h"

namespace nt {

using RecordCallback = std::function<void(const Record&)>;

// A connection as the sources that remember one recognise it (the snapshot's
// dedupe, the NAT translations kept for closes): its network namespace and
// both ends (family, address, port), as bytes for a flat hash map.
using ConnectionKey = std::array<uint8_t, 4 + 2 * 19>;
ConnectionKey connection_key(const Record& r);

class Source {
public:
  virtual ~Source() = default;
  // Readable when records wait (it may also stay quiet while they do: the
  // ring buffer wakes its reader only when a quarter full, so every source is
  // drained on every tick anyway). -1: nothing to watch.
  virtual int fd() const = 0;
  // Delivers every record available now, in order, without blocking.
  virtual void drain(const RecordCallback& cb) = 0;
  // Nothing more will come (a snapshot taken, a file read to its end).
  virtual bool finished() const { return false; }
  // The run is ending: the last records, after the last drain (the tracer's
  // connections still open). Called once, unless a sink closed.
  virtual void finish(const RecordCallback& cb) { (void)cb; }
};

class Sink {
public:
  virtual ~Sink() = default;
  // Watched for EPOLLERR/EPOLLHUP: its reader went away (a closed pipe). -1:
  // nothing to watch (a regular file, memory).
  virtual int fd() const { return -1; }
  virtual void record(const Record& r) = 0;
  // The drain tick, after each drain of the sources: write out what record()
  // gathered. False once the sink's reader has gone.
  virtual bool tick() = 0;
  // False once the sink wants no more records (nettrace --count reached).
  virtual bool wants_more() const { return true; }
  // The reader went away (the loop saw EPOLLERR/EPOLLHUP on fd()).
  virtual void reader_gone() {}
};

enum class LoopEnd : uint8_t {
  Stopped,    // the stop flag (SIGINT, SIGTERM)
  Duration,   // the time given ran out
  SinkClosed, // a sink's reader went away
  SinkDone,   // a sink wants no more (--count)
  SourcesDone // every source said it finished
};

struct LoopOptions {
  int tick_ms = 10;      // how often the sources are drained
  double duration_s = 0; // 0 = until stopped
  bool stop_when_sources_finish = false;
};

class RunLoop {
public:
  RunLoop(); // throws TracerError if epoll cannot be created
  // Both must outlive the loop. Throws TracerError if a descriptor cannot be
  // watched (a regular file or /dev/null cannot, and need not be).
  void add(Source& s);
  void add(Sink& s);
  // Runs until one of LoopEnd's reasons; `stop` is read between waits. The
  // sources are drained one last time at the end, unless a sink closed, so
  // nothing already delivered to them is lost at a clean stop.
  LoopEnd run(const volatile std::sig_atomic_t& stop, const LoopOptions& options);
  // One drain of every source and tick of every sink, now: what the sources
  // already hold goes out before the run (the snapshot, before nettrace says
  // it is ready). With `last`, each source's finish() follows its drain.
  // False if a sink closed.
  bool drain_and_tick(bool last = false);

private:
  void watch(int fd, uint32_t events, uint64_t tag);
  UniqueFd ep_;
  std::vector<Source*> sources_;
  std::vector<Sink*> sinks_;
};

} // namespace nt
