// nettrace's program: --info, or open the sources (the tracer), open the sinks
// (lines on stdout, the --serve map), and run the loop (pipeline.h) until stopped.
#include <fcntl.h>
#include <sys/capability.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "serve/serve.h"
#include "tracer/backend.h"
#include "tracer/cli.h"
#include "tracer/identity_cache.h"
#include "tracer/line_sink.h"
#include "tracer/nat_source.h"
#include "tracer/snapshot_source.h"
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

LineSinkOptions line_options(const NettraceConfig& config) {
  LineSinkOptions out;
  out.json = config.format == OutputFormat::Json;
  if (config.show_failed)
    out.shown_with.emplace_back("--failed");
  if (config.show_close)
    out.shown_with.emplace_back("--close");
  out.timestamp = config.timestamp;
  out.count = config.count;
  return out;
}

// Whether records get exe, cmdline and the cgroup's names (identity_cache.h):
// only where they are shown, JSON lines and the served map. Arrow lines
// have no place for them, so they cost nothing there.
bool wants_identity(const NettraceConfig& config, bool serving) {
  return config.format == OutputFormat::Json || serving;
}

void say_identity_gone(const IdentityCache& identities,
                       const std::function<void(const std::string&)>& say) {
  if (identities.gone())
    say("nettrace: " + std::to_string(identities.gone()) +
        " processes had exited before their first record was read: their exe, cmdline and "
        "cgroup fields are empty");
}

// nettrace --snapshot: the connections established now, then exit. No
// program is attached; the snapshot itself needs root (it reads every
// process's descriptors, in every network namespace).
int run_snapshot_only(const NettraceConfig& config,
                      const std::function<void(const std::string&)>& say) {
  if (!has_bpf_privileges())
    throw TracerError(kExitNoPrivilege,
                      "--snapshot reads every process's sockets: run it as root (sudo nettrace "
                      "--snapshot)");
  LineSink lines(STDOUT_FILENO, line_options(config));
  SnapshotSource snapshot(nullptr, config.tracer, say);
  std::unique_ptr<NatSource> nat; // --nat (issue 16)
  if (config.nat)
    nat = std::make_unique<NatSource>(snapshot, say);
  Source& events = nat ? static_cast<Source&>(*nat) : snapshot;
  IdentityCache identities;
  IdentitySource identified(events, identities);
  RunLoop loop;
  loop.add(wants_identity(config, false) ? static_cast<Source&>(identified) : events);
  loop.add(lines);
  LoopOptions lo;
  lo.stop_when_sources_finish = true;
  loop.run(g_stop, lo);
  say("nettrace: " + lines.summary());
  say_identity_gone(identities, say);
  if (nat && !nat->summary().empty())
    say(nat->summary());
  return kExitOk;
}

} // namespace

int run_nettrace(const NettraceConfig& config) {
  if (config.info)
    return print_info(config);
  install_signals();
  auto say = [](const std::string& s) { std::fprintf(stderr, "%s\n", s.c_str()); };
  if (config.snapshot == SnapshotMode::Only)
    return run_snapshot_only(config, say);
  // --serve binds first: a port in use fails before anything is loaded, and
  // the port is bound while we still may (a port below 1024, say) before
  // --user drops privileges. Its thread starts after the drop.
  std::unique_ptr<Server> server;
  const Tracer* traced = nullptr;
  if (config.serve.enabled)
    server = std::make_unique<Server>(config.serve, [&traced, &config](ServeState& state) {
      TracerHealth h;
      h.ringbuf_bytes = config.tracer.ringbuf_size;
      if (traced) {
        h.lost = traced->lost();
        h.missed_known = traced->missed(h.missed);
        if (const RingUse* use = traced->ring_use()) {
          h.ring_use_known = true;
          h.ring_used = use->used();
          h.ring_peak = std::max(use->peak(), h.ring_used);
        }
      }
      state.set_tracer_health(h);
    });
  // Sources: the live events, after the connections that already exist.
  // The snapshot's program is loaded first: see load_snapshot_iterator.
  // (Without privileges or BTF, Tracer::open says so; libbpf's log is routed
  // first, so that a failed load prints only with -v.)
  LoadedSnapshotIterator snapshot_iterator;
  route_libbpf_log(config.tracer.verbose);
  if (config.snapshot != SnapshotMode::Off && has_bpf_privileges() && has_btf())
    snapshot_iterator = load_snapshot_iterator();
  auto tracer = Tracer::open(config.tracer, [&](std::string_view s) { say(std::string(s)); });
  // One calm line: which backend runs. Why cheaper ones did not is for -v and
  // --info; on many kernels it is the normal state of things.
  std::fprintf(stderr, "nettrace: tracing with the %s backend; Ctrl-C to stop\n",
               tracer->backend_name().c_str());
  traced = tracer.get();
  if (server)
    std::fprintf(stderr, "nettrace: serving on %s%s%s:%u (/metrics, /api/events, /healthz ...)\n",
                 config.serve.addr.family == 6 ? "[" : "", config.serve.addr.addr.c_str(),
                 config.serve.addr.family == 6 ? "]" : "", unsigned(server->port()));
  SnapshotSource snapshot(tracer.get(), config.tracer, say, std::move(snapshot_iterator));
  Source& unnatted =
      config.snapshot == SnapshotMode::Off ? static_cast<Source&>(*tracer) : snapshot;
  // --nat (issue 16): conntrack's view of each connection end, after the
  // snapshot's duplicates are gone. Opened before --user drops privileges.
  std::unique_ptr<NatSource> nat;
  if (config.nat)
    nat = std::make_unique<NatSource>(unnatted, say);
  Source& events = nat ? static_cast<Source&>(*nat) : unnatted;
  IdentityCache identities;
  IdentitySource identified(events, identities);
  Source& source = wants_identity(config, server != nullptr) ? identified : events;

  // Sinks: lines on stdout, unless serving (a service's stdout is its
  // journal; --serve-lines asks for them), and the served map.
  LineSink lines(STDOUT_FILENO, line_options(config));
  const bool write_lines = !server || config.serve.lines;

  // The loop. The first drain (the snapshot, and what the ring already
  // holds) goes out before nettrace says it is ready and drops privileges:
  // the snapshot reads other processes' descriptors.
  RunLoop loop;
  loop.add(source);
  if (write_lines)
    loop.add(lines);
  if (server)
    loop.add(server->sink());
  const bool open = loop.drain_and_tick();
  if (!config.ready_file.empty()) {
    UniqueFd fd(::open(config.ready_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd || ::write(fd.get(), "ready\n", 6) != 6)
      throw TracerError(kExitRuntime, "cannot write --ready-file " + config.ready_file + ": " +
                                          std::strerror(errno));
  }
  if (!config.user.empty()) {
    // --nat: conntrack requests are sent from the run loop's thread, this
    // one, so --user keeps CAP_NET_ADMIN here (NatSource says when it is missing).
    drop_privileges(config.user, nat ? std::vector<int>{CAP_NET_ADMIN} : std::vector<int>{});
  }
  if (server)
    server->start(); // after the drop: capabilities are per thread
  LoopOptions lo;
  lo.tick_ms = config.tracer.drain_interval_ms;
  lo.duration_s = config.duration_s;
  if (open && (!write_lines || lines.wants_more()))
    loop.run(g_stop, lo);

  const std::string said = write_lines ? lines.summary() : server->summary();
  std::fprintf(stderr, "nettrace: %s, %llu lost (%s backend)\n", said.c_str(),
               static_cast<unsigned long long>(tracer->lost()), tracer->backend_name().c_str());
  say_identity_gone(identities, say);
  if (nat && !nat->summary().empty())
    std::fprintf(stderr, "%s\n", nat->summary().c_str());
  if (tracer->evicted())
    std::fprintf(stderr,
                 "nettrace: %llu connection owners were not kept: the owner map was full (raise "
                 "--max-open); their closes were reported with pid 0\n",
                 static_cast<unsigned long long>(tracer->evicted()));
  if (tracer->open_at_exit() < 0)
    std::fprintf(stderr, "nettrace: the connections still open at exit are unknown (%s)\n",
                 tracer->open_dump_failure().empty() ? "reading the owner map failed"
                                                     : tracer->open_dump_failure().c_str());
  if (tracer->open_bytes_unknown())
    std::fprintf(stderr,
                 "nettrace: %llu connections open at exit are reported without bytes: their "
                 "network namespace could not be entered\n",
                 static_cast<unsigned long long>(tracer->open_bytes_unknown()));
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
