// nettrace's event loop: attach, drain the ring buffer every few milliseconds,
// format into one reused buffer, write it with one write(2) per drain.
#include <fcntl.h>
#include <sys/epoll.h>
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
#include "tracer/clock_prefix.h"
#include "tracer/tracer.h"
#include "util/unique_fd.h"

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

// Writes everything or reports why not; `written` is how many bytes went out.
// EPIPE is not an error for the caller: it is how a reader says it has had
// enough.
enum class WriteResult { Ok, Closed, Failed };

WriteResult write_all(int fd, const std::string& buf, size_t& written) {
  written = 0;
  while (written < buf.size()) {
    ssize_t n = ::write(fd, buf.data() + written, buf.size() - written);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno == EPIPE ? WriteResult::Closed : WriteResult::Failed;
    }
    written += size_t(n);
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
  const KernelFacts facts = kernel_facts();
  utsname u{};
  uname(&u);
  std::printf("kernel: %s %s\n", u.sysname, u.release);
  std::printf("btf: %s\n", facts.btf ? "yes (/sys/kernel/btf/vmlinux)"
                                     : "no (/sys/kernel/btf/vmlinux is missing; CO-RE needs "
                                       "CONFIG_DEBUG_INFO_BTF=y)");
  std::printf("privileges: %s\n",
              facts.privileged ? "yes"
                               : "no: loading BPF programs needs root or CAP_BPF and CAP_PERFMON, "
                                 "so no backend can be tried (run: sudo nettrace --info)");
  std::printf("kprobes: %s\n", facts.kprobes ? "yes" : "no (CONFIG_KPROBES is off)");
  if (!facts.lockdown.empty())
    std::printf("lockdown: %s\n", facts.lockdown.c_str());
  std::printf("backends (cheapest first):\n");
  std::vector<const BackendInfo*> order;
  for (const auto& b : backends())
    order.push_back(&b);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->cost < b->cost; });
  const BackendInfo* best = nullptr;
  const bool can_try = facts.privileged && facts.btf;
  for (const BackendInfo* b : order) {
    AttachFailure why;
    std::string log;
    BpfConfig c = make_bpf_config(config.tracer);
    c.ringbuf_size = 4096;
    std::unique_ptr<AttachedBackend> attached;
    if (can_try)
      attached = try_backend(*b, c, why, log);
    if (attached && !best)
      best = b;
    if (attached)
      std::printf("  %-10s loads+attaches\n", b->name);
    else if (!can_try)
      std::printf("  %-10s %s\n", b->name, explain_failure(b->name, why, facts).c_str());
    else
      // Facts read again: trying the tracepoint backend may have mounted tracefs.
      std::printf("  %-10s fails: %s\n", b->name,
                  explain_failure(b->name, why, kernel_facts(), log).c_str());
    std::printf("  %-10s   %s%shooks: %s\n", "", attached || !can_try ? "" : why.detail().c_str(),
                attached || !can_try ? "" : "; ", b->hooks);
  }
  if (!facts.privileged) {
    std::printf("auto picks: unknown without privileges\n");
    return kExitNoPrivilege;
  }
  if (!facts.btf) {
    std::printf("auto picks: none (no BTF)\n");
    return kExitNoBtf;
  }
  std::printf("auto picks: %s\n", best ? best->name : "none");
  return best ? kExitOk : kExitNoBackend;
}

// "1 connection" / "2 connections".
std::string count_of(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

} // namespace

int run_nettrace(const NettraceConfig& config) {
  if (config.info)
    return print_info(config);
  install_signals();
  auto tracer = Tracer::open(config.tracer, [](std::string_view s) {
    std::fprintf(stderr, "%.*s\n", int(s.size()), s.data());
  });
  // One calm line: which backend runs. Why cheaper ones did not is for -v and
  // --info; on many kernels it is the normal state of things.
  std::fprintf(stderr, "nettrace: tracing with the %s backend; Ctrl-C to stop\n",
               tracer->backend_name().c_str());

  if (!config.ready_file.empty()) {
    UniqueFd fd(::open(config.ready_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd || ::write(fd.get(), "ready\n", 6) != 6)
      throw TracerError(kExitRuntime, "cannot write --ready-file " + config.ready_file + ": " +
                                          std::strerror(errno));
  }
  if (!config.user.empty())
    drop_privileges(config.user);

  // One wait for both: the ring buffer having data, and stdout's reader going
  // away. A pipe's write end reports EPOLLERR once the reader closed (a tty or
  // socket EPOLLHUP), so `nettrace | head -3` ends within one drain interval
  // even when no event comes to fail a write. Regular files and /dev/null
  // cannot be watched (EPERM) and cannot close under us either.
  UniqueFd ep(epoll_create1(EPOLL_CLOEXEC));
  if (!ep)
    throw TracerError(kExitRuntime, std::string("epoll_create1: ") + std::strerror(errno));
  epoll_event ring_ev{};
  ring_ev.events = EPOLLIN;
  ring_ev.data.fd = tracer->epoll_fd();
  if (epoll_ctl(ep.get(), EPOLL_CTL_ADD, tracer->epoll_fd(), &ring_ev) != 0)
    throw TracerError(kExitRuntime,
                      std::string("cannot watch the ring buffer: ") + std::strerror(errno));
  epoll_event out_ev{};
  out_ev.events = 0; // EPOLLERR and EPOLLHUP are always reported
  out_ev.data.fd = STDOUT_FILENO;
  if (epoll_ctl(ep.get(), EPOLL_CTL_ADD, STDOUT_FILENO, &out_ev) != 0 && errno != EPERM)
    throw TracerError(kExitRuntime, std::string("cannot watch stdout: ") + std::strerror(errno));

  const uint64_t deadline =
      config.duration_s > 0 ? mono_ms() + uint64_t(config.duration_s * 1000) : 0;
  std::string buf;
  buf.reserve(1 << 20);
  // What the summary at exit reports: lines actually written, by kind, and
  // what was seen but not written, by reason.
  enum class Kind : uint8_t { Connection, Failed, Marker };
  std::vector<std::pair<size_t, Kind>> pending; // end offset in buf of each line
  pending.reserve(1 << 14);
  uint64_t printed = 0; // connections formatted (for --count)
  uint64_t written_connections = 0, written_failed = 0;
  uint64_t failed_hidden = 0, after_count = 0, unwritten = 0;
  bool closed = false;
  const bool json = config.format == OutputFormat::Json;
  ClockPrefix clock;
  auto on_record = [&](const Record& r) {
    if (config.count && printed >= config.count && r.type != RecordType::Lost) {
      ++after_count;
      return;
    }
    if (r.type == RecordType::Failed && !json && !config.show_failed) {
      ++failed_hidden;
      return;
    }
    if (json) {
      append_json(buf, r);
    } else {
      if (config.timestamp)
        clock.append(buf, r.time_ns);
      append_arrow(buf, r);
    }
    const Kind kind = r.type == RecordType::Lost     ? Kind::Marker
                      : r.type == RecordType::Failed ? Kind::Failed
                                                     : Kind::Connection;
    pending.emplace_back(buf.size(), kind);
    if (kind == Kind::Connection)
      ++printed;
  };
  RecordCallback cb = on_record;
  // Writes buf; counts the lines that went out whole.
  auto flush = [&]() {
    if (buf.empty())
      return;
    size_t sent = 0;
    WriteResult w = write_all(STDOUT_FILENO, buf, sent);
    const int saved = errno;
    for (const auto& [end, kind] : pending) {
      if (end > sent)
        ++unwritten;
      else if (kind == Kind::Connection)
        ++written_connections;
      else if (kind == Kind::Failed)
        ++written_failed;
    }
    buf.clear();
    pending.clear();
    if (w == WriteResult::Closed)
      closed = true;
    if (w == WriteResult::Failed)
      throw TracerError(kExitRuntime,
                        std::string("cannot write to stdout: ") + std::strerror(saved));
  };

  while (!g_stop && !closed) {
    int timeout = config.tracer.drain_interval_ms;
    if (deadline) {
      uint64_t now = mono_ms();
      if (now >= deadline)
        break;
      timeout = int(std::min<uint64_t>(uint64_t(timeout), deadline - now));
    }
    epoll_event ev[2];
    const int n = epoll_wait(ep.get(), ev, 2, timeout);
    if (n < 0 && errno != EINTR)
      throw TracerError(kExitRuntime, std::string("epoll_wait: ") + std::strerror(errno));
    for (int i = 0; i < n; ++i)
      if (ev[i].data.fd == STDOUT_FILENO && (ev[i].events & (EPOLLERR | EPOLLHUP)))
        closed = true;
    if (closed)
      break;
    tracer->poll(0, cb);
    flush();
    if (config.count && printed >= config.count)
      break;
  }
  // One last drain so nothing already in the ring is lost at a clean stop.
  if (!closed) {
    tracer->poll(0, cb);
    flush();
  }

  std::string summary = "nettrace: " + count_of(written_connections, "connection", "connections");
  if (written_failed)
    summary += " and " + count_of(written_failed, "failed connect", "failed connects");
  summary += " written";
  if (failed_hidden)
    summary += ", " + count_of(failed_hidden, "failed connect", "failed connects") +
               " not shown (add --failed)";
  if (after_count)
    summary += ", " + std::to_string(after_count) + " more after --count " +
               std::to_string(config.count) + " not written";
  if (unwritten)
    summary += ", " + count_of(unwritten, "line", "lines") + " not written (stdout closed)";
  summary +=
      ", " + std::to_string(tracer->lost()) + " lost (" + tracer->backend_name() + " backend)";
  std::fprintf(stderr, "%s\n", summary.c_str());
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
