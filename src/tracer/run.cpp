// nettrace's event loop: attach, drain the ring buffer every few milliseconds,
// format into one reused buffer, write it with one write(2) per drain.
#include <fcntl.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "trace/format.h"
#include "tracer/backend.h"
#include "tracer/cli.h"
#include "tracer/tracer.h"

namespace nt {
namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) {
  g_stop = 1;
}

void install_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // A closed stdout must end the run cleanly: see EPIPE from write() instead
  // of dying by the signal.
  struct sigaction ign {};
  ign.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ign, nullptr);
}

// Writes everything or reports why not. EPIPE is not an error for the caller:
// it is how a reader says it has had enough.
enum class WriteResult { Ok, Closed, Failed };

WriteResult write_all(int fd, const std::string& buf) {
  size_t off = 0;
  while (off < buf.size()) {
    ssize_t n = ::write(fd, buf.data() + off, buf.size() - off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno == EPIPE ? WriteResult::Closed : WriteResult::Failed;
    }
    off += size_t(n);
  }
  return WriteResult::Ok;
}

uint64_t mono_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000 + uint64_t(ts.tv_nsec) / 1000000;
}

int print_info(const NettraceConfig& config) {
  route_libbpf_log(config.tracer.verbose);
  utsname u{};
  uname(&u);
  std::printf("kernel: %s %s\n", u.sysname, u.release);
  std::printf("btf: %s\n", has_btf() ? "yes (/sys/kernel/btf/vmlinux)" : "no");
  std::printf("privileges: %s\n", has_bpf_privileges() ? "yes" : "no (run as root)");
  std::printf("backends (cheapest first):\n");
  std::vector<const BackendInfo*> order;
  for (const auto& b : backends())
    order.push_back(&b);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->cost < b->cost; });
  const BackendInfo* best = nullptr;
  for (const BackendInfo* b : order) {
    std::string why;
    BpfConfig c = make_bpf_config(config.tracer);
    c.ringbuf_size = 4096;
    std::unique_ptr<AttachedBackend> attached;
    if (has_bpf_privileges() && has_btf())
      attached = b->attach(c, why);
    else
      why = "needs root and BTF";
    if (attached && !best)
      best = b;
    std::printf("  %-10s %s  [%s]\n", b->name,
                attached ? "loads+attaches" : ("fails: " + why).c_str(), b->hooks);
  }
  std::printf("auto picks: %s\n", best ? best->name : "none");
  return best ? kExitOk : kExitNoBackend;
}

} // namespace

int run_nettrace(const NettraceConfig& config) {
  if (config.info)
    return print_info(config);
  install_signals();
  auto tracer = Tracer::open(config.tracer, [](std::string_view s) {
    std::fprintf(stderr, "%.*s\n", int(s.size()), s.data());
  });

  if (!config.ready_file.empty()) {
    int fd = ::open(config.ready_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::write(fd, "ready\n", 6) != 6)
      throw TracerError(kExitRuntime, "cannot write --ready-file " + config.ready_file + ": " +
                                          std::strerror(errno));
    ::close(fd);
  }
  if (!config.user.empty())
    drop_privileges(config.user);

  const uint64_t deadline =
      config.duration_s > 0 ? mono_ms() + uint64_t(config.duration_s * 1000) : 0;
  std::string buf;
  buf.reserve(1 << 20);
  uint64_t printed = 0;
  bool closed = false;
  const bool json = config.format == OutputFormat::Json;
  auto on_record = [&](const Record& r) {
    if (config.count && printed >= config.count && r.type != RecordType::Lost)
      return;
    if (r.type == RecordType::Failed && !json && !config.show_failed)
      return;
    if (json)
      append_json(buf, r);
    else
      append_arrow(buf, r);
    if (r.type != RecordType::Lost && r.type != RecordType::Failed)
      ++printed;
  };
  RecordCallback cb = on_record;

  while (!g_stop && !closed) {
    int timeout = config.tracer.drain_interval_ms;
    if (deadline) {
      uint64_t now = mono_ms();
      if (now >= deadline)
        break;
      timeout = int(std::min<uint64_t>(uint64_t(timeout), deadline - now));
    }
    tracer->poll(timeout, cb);
    if (!buf.empty()) {
      WriteResult w = write_all(STDOUT_FILENO, buf);
      buf.clear();
      if (w == WriteResult::Closed)
        closed = true;
      if (w == WriteResult::Failed)
        throw TracerError(kExitRuntime,
                          std::string("cannot write to stdout: ") + std::strerror(errno));
    }
    if (config.count && printed >= config.count)
      break;
  }
  // One last drain so nothing already in the ring is lost at a clean stop.
  if (!closed) {
    tracer->poll(0, cb);
    if (!buf.empty() && write_all(STDOUT_FILENO, buf) == WriteResult::Failed)
      throw TracerError(kExitRuntime,
                        std::string("cannot write to stdout: ") + std::strerror(errno));
  }
  std::fprintf(stderr, "nettrace: %llu events, %llu lost (%s backend)\n",
               static_cast<unsigned long long>(tracer->events()),
               static_cast<unsigned long long>(tracer->lost()), tracer->backend_name().c_str());
  uint64_t missed = 0;
  if (!tracer->missed(missed))
    std::fprintf(
        stderr,
        "nettrace: the kernel did not say whether it skipped hook runs (after --user it cannot)\n");
  else if (missed)
    std::fprintf(stderr,
                 "nettrace: the kernel skipped %llu runs of our hooks (BPF recursion protection: a "
                 "hook fired "
                 "while the same program ran on that CPU); up to that many events may be missing\n",
                 static_cast<unsigned long long>(missed));
  return kExitOk;
}

} // namespace nt
