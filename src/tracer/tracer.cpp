#include "tracer/tracer.h"

#include <bpf/libbpf.h>
#include <grp.h>
#include <linux/types.h>
#include <malloc.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <optional>
#include <vector>

#include "tracer/backend.h"
#include "tracer/caps.h"
#include "tracer/filters.h"
#include "tracer/open_dump.h"
#include "tracer/skeleton_util.h"

namespace nt {
namespace {

// libbpf's log is global; it goes to stderr only with --verbose, and into a
// capture buffer while a backend is tried (its words name a missing helper).
bool g_libbpf_verbose = false;
std::string* g_libbpf_capture = nullptr;

int libbpf_log(enum libbpf_print_level, const char* fmt, va_list args) {
  if (g_libbpf_capture) {
    // Whole messages: libbpf hands over a failed program's verifier log as
    // one message, and the refused helper is named at its end.
    va_list copy;
    va_copy(copy, args);
    const int n = vsnprintf(nullptr, 0, fmt, copy);
    va_end(copy);
    if (n > 0) {
      const size_t at = g_libbpf_capture->size();
      g_libbpf_capture->resize(at + size_t(n) + 1);
      va_copy(copy, args);
      vsnprintf(g_libbpf_capture->data() + at, size_t(n) + 1, fmt, copy);
      va_end(copy);
      g_libbpf_capture->resize(at + size_t(n));
    }
  }
  if (!g_libbpf_verbose)
    return 0;
  return vfprintf(stderr, fmt, args);
}

bool cap_in(cap_t caps, cap_value_t cap, cap_flag_t set) {
  cap_flag_value_t v = CAP_CLEAR;
  return cap_get_flag(caps, cap, set, &v) == 0 && v == CAP_SET;
}

bool cap_effective(cap_t caps, cap_value_t cap) {
  return cap_in(caps, cap, CAP_EFFECTIVE);
}

} // namespace

bool has_bpf_privileges() {
  const UniqueCap caps(cap_get_proc());
  if (!caps)
    return geteuid() == 0;
  return cap_effective(caps.get(), CAP_SYS_ADMIN) ||
         (cap_effective(caps.get(), CAP_BPF) && cap_effective(caps.get(), CAP_PERFMON));
}

bool has_effective_capability(int cap) {
  const UniqueCap caps(cap_get_proc());
  return caps ? cap_effective(caps.get(), cap_value_t(cap)) : geteuid() == 0;
}

bool has_btf() {
  return access("/sys/kernel/btf/vmlinux", R_OK) == 0;
}

BpfConfig make_bpf_config(const TracerOptions& o) {
  BpfConfig c;
  c.kernel.direction = NT_DIR_BOTH;
  for (const FilterRow& f : filters())
    f.apply(o, c.kernel);
  const uint32_t rb = o.ringbuf_size;
  if (rb < 4096 || (rb & (rb - 1)) != 0)
    throw TracerError(kExitUsage, "--ringbuf-size " + std::to_string(rb) +
                                      ": must be a power of two of at least 4096 bytes");
  c.ringbuf_size = rb;
  // Wake the reader early only when a quarter of the ring is waiting: below
  // that the timed drain keeps up and costs no wakeups.
  c.kernel.wakeup_bytes = rb / 4;
  c.kernel.emit_close = o.closes;
  c.kernel.owners_max = o.owners_max;
  return c;
}

void Tracer::RingDeleter::operator()(ring_buffer* rb) const noexcept {
  ring_buffer__free(rb);
}

Tracer::~Tracer() {
  ring_.reset(); // before the maps it reads go away with the backend
  backend_.reset();
}

void route_libbpf_log(bool verbose) {
  g_libbpf_verbose = verbose;
  libbpf_set_print(libbpf_log);
}

std::unique_ptr<AttachedBackend> try_backend(const BackendInfo& b, const BpfConfig& config,
                                             AttachFailure& failure, std::string& log) {
  log.clear();
  g_libbpf_capture = &log;
  auto attached = b.attach(config, failure);
  g_libbpf_capture = nullptr;
  return attached;
}

std::unique_ptr<Tracer> Tracer::open(const TracerOptions& options, const LogCallback& log) {
  route_libbpf_log(options.verbose);
  auto say = [&](const std::string& s) {
    if (log)
      log(s);
  };

  BpfConfig config = make_bpf_config(options);
  if (!has_bpf_privileges())
    throw TracerError(
        kExitNoPrivilege,
        "tracing needs root or the capabilities CAP_BPF and CAP_PERFMON: run it with sudo");
  if (!has_btf())
    throw TracerError(
        kExitNoBtf,
        "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): use a kernel built with "
        "CONFIG_DEBUG_INFO_BTF=y (every Debian kernel since 11 is)");

  std::unique_ptr<Tracer> t(new Tracer);
  // Why a backend failed, in words first, libbpf's detail after.
  std::optional<KernelFacts> facts;
  auto explain = [&](const BackendInfo& b, const AttachFailure& f, const std::string& libbpf_log) {
    if (!facts)
      facts = kernel_facts();
    return explain_failure(b.name, f, *facts, libbpf_log) + " [" + f.detail() + "]";
  };
  std::string attempt_log;
  if (options.backend == "auto") {
    // Try every backend, cheapest first; keep the first that loads and attaches.
    // Cheaper ones failing is normal on many kernels: only -v says why.
    std::vector<const BackendInfo*> order;
    for (const auto& b : backends())
      order.push_back(&b);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->cost < b->cost; });
    std::string failures;
    for (const BackendInfo* b : order) {
      AttachFailure why;
      t->backend_ = try_backend(*b, config, why, attempt_log);
      if (t->backend_) {
        t->backend_name_ = b->name;
        break;
      }
      const std::string words = explain(*b, why, attempt_log);
      if (options.verbose)
        say("nettrace: the " + std::string(b->name) + " backend is not used here: " + words);
      failures += std::string(failures.empty() ? "" : "; ") + b->name + ": " + words;
    }
    if (!t->backend_)
      throw TracerError(kExitNoBackend, "no backend could attach here (" + failures +
                                            "); run with -v for libbpf's log, or nettrace --info");
  } else {
    const BackendInfo* b = find_backend(options.backend);
    if (!b)
      throw TracerError(kExitUsage, "unknown backend '" + options.backend + "': use " +
                                        backend_choices_in_words());
    AttachFailure why;
    t->backend_ = try_backend(*b, config, why, attempt_log);
    if (!t->backend_)
      throw TracerError(kExitNoBackend, "the " + options.backend + " backend cannot attach here: " +
                                            explain(*b, why, attempt_log) +
                                            "; try --backend auto, or see nettrace --info");
    t->backend_name_ = b->name;
  }

  // Every BPF object is loaded before the ring buffer is mapped (its data
  // pages twice, 8 MB resident by default): libbpf parses the kernel's BTF
  // for each object (about 11 MB, freed after the load), and glibc keeps
  // what a parse freed on its heap. Loaded first and trimmed, the parses'
  // memory is not resident on top of the ring's (peak RSS: BENCHMARKS.md,
  // issue 18). The open-connections dump's iterator is one of them.
  if (options.closes) {
    t->open_dump_ = OpenDump::open(t->backend_->owners_fd());
    if (options.verbose && !t->open_dump_->iterator_failure().empty())
      say("nettrace: connections open at exit are read from the owner map and sock_diag: the "
          "kernel refused the iterator (" +
          t->open_dump_->iterator_failure() + ")");
  }
  malloc_trim(0);
  ring_buffer* rb =
      ring_buffer__new(t->backend_->ringbuf_fd(), &Tracer::on_sample, t.get(), nullptr);
  if (!rb)
    throw TracerError(kExitRuntime, "cannot open the ring buffer: " + errno_text(errno));
  t->ring_.reset(rb);
  t->ring_use_ = RingUse::open(t->backend_->ringbuf_fd());
  t->clock_ = ClockOffset::now();
  t->lost_reported_ = t->backend_->dropped();
  t->evicted_reported_ = t->backend_->evicted();
  // The open-connections dump was set up above, while privileged; it is read
  // at exit. Without closes the kernel keeps no owners, so there is nothing
  // to read: none reported open.
  if (!options.closes)
    t->open_at_exit_ = 0;
  return t;
}

int Tracer::on_sample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<Tracer*>(ctx);
  if (!decode_event(data, size, self->clock_, self->scratch_)) {
    ++self->undecodable_;
    return 0;
  }
  ++self->events_;
  ++self->delivered_;
  (*self->current_cb_)(self->scratch_);
  return 0;
}

int Tracer::poll(int timeout_ms, const RecordCallback& cb) {
  current_cb_ = &cb;
  delivered_ = 0;
  if (ring_use_)
    ring_use_->sample(); // before the drain: the ring at its fullest
  // The BPF side submits without wakeups until the ring fills up, so the wait
  // usually times out; the consume after it is what drains the ring.
  int err = ring_buffer__poll(ring_.get(), timeout_ms);
  if (err < 0 && err != -EINTR)
    throw TracerError(kExitRuntime, "polling the ring buffer failed: " + errno_text(err));
  err = ring_buffer__consume(ring_.get());
  if (err < 0 && err != -EINTR)
    throw TracerError(kExitRuntime, "reading the ring buffer failed: " + errno_text(err));
  // What the kernel could not deliver, and owners it could not keep, as
  // markers after the records of this drain.
  auto report = [&](RecordType type, uint64_t now_total, uint64_t& reported) {
    if (now_total <= reported)
      return;
    Record m;
    m.type = type;
    (type == RecordType::Lost ? m.lost : m.evicted) = now_total - reported;
    m.has_details = true;
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    m.time_ns = uint64_t(now.tv_sec) * 1000000000ull + uint64_t(now.tv_nsec);
    reported = now_total;
    ++delivered_;
    cb(m);
  };
  report(RecordType::Lost, backend_->dropped(), lost_reported_);
  report(RecordType::Evicted, backend_->evicted(), evicted_reported_);
  current_cb_ = nullptr;
  return delivered_;
}

void Tracer::finish(const RecordCallback& cb) {
  if (!open_dump_)
    return;
  open_at_exit_ = open_dump_->read(clock_, cb);
  open_dump_failure_ = open_dump_->failure();
  open_bytes_unknown_ = open_dump_->bytes_unknown();
  open_dump_.reset();
}

int Tracer::epoll_fd() const {
  return ring_buffer__epoll_fd(ring_.get());
}

bool Tracer::missed(uint64_t& total) const {
  return backend_->missed(total);
}

void drop_privileges(const std::string& user, const std::vector<int>& keep) {
  errno = 0;
  passwd* pw = getpwnam(user.c_str());
  if (!pw)
    throw TracerError(kExitUsage, "--user " + user + ": no such user");
  // Of `keep`, what this process has (a unit's CapabilityBoundingSet may
  // lack it): asking for more would make cap_set_proc() fail.
  std::vector<cap_value_t> kept;
  {
    const UniqueCap now(cap_get_proc());
    for (int c : keep)
      if (now && cap_in(now.get(), cap_value_t(c), CAP_PERMITTED))
        kept.push_back(cap_value_t(c));
  }
  // setuid() away from root clears the permitted set unless KEEPCAPS is on
  // (for this thread, and reset by the kernel on exec).
  if (!kept.empty() && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
    throw TracerError(kExitRuntime,
                      "--user " + user + ": cannot keep capabilities: " + errno_text(errno));
  if (setgroups(0, nullptr) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
    throw TracerError(kExitRuntime,
                      "--user " + user + ": cannot switch user: " + errno_text(errno));
  // Everything but `kept`, explicitly, and nothing to regain through exec.
  const bool cleared = [&] {
    const UniqueCap caps(cap_init());
    if (!caps)
      return false;
    if (!kept.empty() &&
        (cap_set_flag(caps.get(), CAP_PERMITTED, int(kept.size()), kept.data(), CAP_SET) != 0 ||
         cap_set_flag(caps.get(), CAP_EFFECTIVE, int(kept.size()), kept.data(), CAP_SET) != 0))
      return false;
    return cap_set_proc(caps.get()) == 0;
  }();
  if (!cleared || prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0 ||
      prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    throw TracerError(kExitRuntime,
                      "--user " + user + ": cannot drop capabilities: " + errno_text(errno));
  if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid)
    throw TracerError(kExitRuntime,
                      "--user " + user + ": still running as uid " + std::to_string(geteuid()));
}

} // namespace nt
