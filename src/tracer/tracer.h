// The C++ API: start tracing with options, receive decoded events through a
// callback on each poll, stop by destroying the Tracer.
//
//   nt::TracerOptions opts;
//   opts.ports = {80, 443};
//   auto tracer = nt::Tracer::open(opts);           // throws nt::TracerError
//   while (running) tracer->poll(100, [](const nt::Record& r) { ... });
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "trace/record.h"
#include "tracer/errors.h"
#include "tracer/event_decode.h"
#include "tracer/options.h"
#include "tracer/pipeline.h"
#include "tracer/ring_use.h"

struct ring_buffer;

namespace nt {

class AttachedBackend;
class OpenDump;

using LogCallback = std::function<void(std::string_view)>;

// The ring buffer as a Source of the run loop (pipeline.h).
class Tracer final : public Source {
public:
  // Checks privileges and BTF, picks and attaches a backend. Throws
  // TracerError with the exit code and a one-line message on failure. `log`
  // receives diagnostics (with options.verbose: why cheaper backends were not
  // used); may be empty. backend_name() says which one runs.
  static std::unique_ptr<Tracer> open(const TracerOptions& options, const LogCallback& log = {});
  ~Tracer();
  Tracer(const Tracer&) = delete;
  Tracer& operator=(const Tracer&) = delete;

  // Waits up to timeout_ms for data, then drains everything available and
  // calls `cb` for each event, in order; if the kernel dropped events since the
  // last call, a Lost record follows. Returns the number of records delivered.
  int poll(int timeout_ms, const RecordCallback& cb);

  // An epoll descriptor that becomes readable when the ring buffer wakes its
  // reader, to wait on beside other descriptors (then poll(0, ...) drains).
  int epoll_fd() const;

  // Source: the ring buffer's wakeups; a drain is poll(0, cb).
  int fd() const override { return epoll_fd(); }
  void drain(const RecordCallback& cb) override { poll(0, cb); }
  // The connections still open (RecordType::Open), from the owner map.
  void finish(const RecordCallback& cb) override;

  const std::string& backend_name() const { return backend_name_; }
  uint64_t events() const { return events_; }
  uint64_t lost() const { return lost_reported_; }
  uint64_t evicted() const { return evicted_reported_; }
  // Connections reported open at exit; -1 if the kernel could not say
  // (open_dump_failure() says why).
  int64_t open_at_exit() const { return open_at_exit_; }
  const std::string& open_dump_failure() const { return open_dump_failure_; }
  // Of those, how many carry no bytes (their network namespace could not be
  // entered).
  uint64_t open_bytes_unknown() const { return open_bytes_unknown_; }
  // Hook runs the kernel skipped (see AttachedBackend::missed); false if unknown.
  bool missed(uint64_t& total) const;
  // How full the ring buffer is (sampled at each drain); nullptr if unknown.
  const RingUse* ring_use() const { return ring_use_.get(); }

private:
  Tracer() = default;
  static int on_sample(void* ctx, void* data, size_t size);

  std::unique_ptr<AttachedBackend> backend_;
  struct RingDeleter {
    void operator()(ring_buffer* rb) const noexcept;
  };
  std::unique_ptr<ring_buffer, RingDeleter> ring_;
  std::unique_ptr<RingUse> ring_use_;
  std::string backend_name_;
  ClockOffset clock_;
  Record scratch_;
  const RecordCallback* current_cb_ = nullptr;
  int delivered_ = 0;
  uint64_t events_ = 0;
  uint64_t lost_reported_ = 0;
  uint64_t evicted_reported_ = 0;
  uint64_t undecodable_ = 0;
  std::unique_ptr<OpenDump> open_dump_;
  std::string open_dump_failure_;
  int64_t open_at_exit_ = -1;
  uint64_t open_bytes_unknown_ = 0;
};

// Resolved, kernel-ready form of the filters (exposed for tests).
struct BpfConfig;
BpfConfig make_bpf_config(const TracerOptions& options);

// libbpf's own log goes to stderr only when verbose (process-wide: libbpf's
// print hook is global).
void route_libbpf_log(bool verbose);

struct BackendInfo;
struct BpfConfig;
struct AttachFailure;
class AttachedBackend;
// Tries one backend with libbpf's log captured into `log` (for --info's
// explanations); on failure returns null with `failure` filled.
std::unique_ptr<AttachedBackend> try_backend(const BackendInfo& b, const BpfConfig& config,
                                             AttachFailure& failure, std::string& log);

// Privilege and kernel checks (exposed for --info and tests).
bool has_bpf_privileges();
bool has_btf();
// Whether this thread has capability `cap` (CAP_*) in its effective set.
bool has_effective_capability(int cap);

// Drops to `user` (no supplementary groups, no capabilities, no_new_privs).
// `keep` (capability numbers, e.g. CAP_NET_ADMIN for --nat's conntrack
// lookups, which the kernel checks on every request) stay effective in the
// calling thread, those of them the process has. Throws TracerError on
// failure.
void drop_privileges(const std::string& user, const std::vector<int>& keep = {});

} // namespace nt
