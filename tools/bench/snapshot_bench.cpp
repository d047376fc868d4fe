// snapshot_bench: time and peak memory of the existing-connections snapshot
// (src/snapshot, issue 13) with many established loopback connections.
//
//   snapshot_bench [--connections N] [--rounds R] [--method proc|iterator] [--print]
//
// A child process unshares a network namespace of its own (so the host's
// port range and the other users of this machine are left alone) and widens
// its ephemeral port range; holder processes in it open N connections on
// 127.0.0.1 in all (2 N sockets; each holder as many as its descriptor limit
// allows, to its own listening port, so the 4-tuples never run out), then
// hold them. This process, which holds none of them, takes
// the snapshot R times (default 5) and prints one line:
//
//   snapshot method M conns N found F (want 2N) host_conns H netns K processes P fds D
//            ms_min X ms_median Y diag_ms G walk_ms W rss_before_kb A rss_peak_kb B
//            vector_conns V vector_ms T vector_rss_peak_kb C
//
// M: how it was taken (--method; default: the iterator where it loads).
// F counts the records in the holders' namespace (connected + accepted: both
// ends are on this host); H every record on the host. The rounds stream the
// records (for_each_existing); times are their wall clock, and the split of
// the last one: diag (processes, namespaces, sock_diag dumps) and walk (every
// process's descriptors). rss_peak_kb is this process's peak resident set
// after the rounds (getrusage ru_maxrss), rss_before_kb before the first.
// Then one take_snapshot(), which keeps every record in a vector: V records,
// T ms, and the peak resident set after it.
// --print writes every record of the last round as "dir pid comm local remote
// netns inode cookie others" lines first. Exit 0, 1 when F is not 2 N (or the
// set-up failed), 64 on usage.
#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "snapshot/snapshot.h"
#include "trace/format.h"

namespace {

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "snapshot_bench: %s\nusage: snapshot_bench [--connections N] [--rounds R] "
               "[--method proc|iterator] [--print]\n",
               why);
  std::exit(64);
}

bool write_file(const char* path, const char* text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  const bool ok = write(fd, text, std::strlen(text)) == ssize_t(std::strlen(text));
  close(fd);
  return ok;
}

// Brings up lo in the calling thread's (new) network namespace.
bool loopback_up() {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "lo");
  bool ok = s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
  ifr.ifr_flags |= IFF_UP;
  ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
  if (s >= 0)
    close(s);
  return ok;
}

// Writes "ok\n", or a reason and exits 1.
[[noreturn]] void fail(int report, const std::string& why) {
  std::string line = why + ": " + std::strerror(errno) + "\n";
  (void)!write(report, line.data(), line.size());
  _exit(1);
}

// The keeper: a network namespace of its own, held until killed.
[[noreturn]] void keep_namespace(int report) {
  if (unshare(CLONE_NEWNET) != 0)
    fail(report, "unshare(CLONE_NEWNET)");
  if (!loopback_up())
    fail(report, "bringing up lo");
  // Per namespace: 64,512 ephemeral ports and a backlog that never drops.
  if (!write_file("/proc/sys/net/ipv4/ip_local_port_range", "1024 65535") ||
      !write_file("/proc/sys/net/core/somaxconn", "65535"))
    fail(report, "setting the namespace's sysctls");
  (void)!write(report, "ok\n", 3);
  for (;;)
    pause();
}

// A holder: enters the keeper's namespace, listens on 127.0.0.1:port and
// makes n connections to itself, then holds both ends until killed.
[[noreturn]] void hold_connections(pid_t keeper, uint16_t port, long n, int report) {
  const std::string ns = "/proc/" + std::to_string(keeper) + "/ns/net";
  int nsfd = open(ns.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) != 0)
    fail(report, "entering " + ns);
  close(nsfd);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port); // below the ephemeral range
  int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l < 0 || bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(l, 4096) != 0)
    fail(report, "listening on 127.0.0.1:" + std::to_string(port));
  for (long i = 0; i < n; ++i) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0 || connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      fail(report, "connection " + std::to_string(i));
    if (accept4(l, nullptr, nullptr, SOCK_CLOEXEC) < 0)
      fail(report, "accept " + std::to_string(i));
  }
  (void)!write(report, "ok\n", 3);
  for (;;)
    pause();
}

// Starts `fn(report_fd)` in a child and waits for its "ok"; 0 on failure.
template <typename Fn> pid_t start(std::vector<pid_t>& children, Fn&& fn) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0)
    return 0;
  const pid_t child = fork();
  if (child == 0) {
    close(p[0]);
    fn(p[1]);
  }
  close(p[1]);
  children.push_back(child);
  char buf[512] = {};
  const ssize_t got = read(p[0], buf, sizeof buf - 1);
  close(p[0]);
  if (got <= 0 || std::string(buf) != "ok\n") {
    std::fprintf(stderr, "snapshot_bench: set-up failed: %s", got > 0 ? buf : "child died\n");
    return 0;
  }
  return child;
}

std::string endpoint(const nt::Endpoint& e) {
  std::string s;
  nt::append_endpoint(s, e);
  return s;
}

long rss_peak_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

} // namespace

int main(int argc, char** argv) {
  long n = 10000;
  int rounds = 5;
  bool print = false;
  nt::SnapshotMethod method = nt::SnapshotMethod::Auto;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> long {
      if (i + 1 >= argc)
        usage(("missing value for " + k).c_str());
      char* end = nullptr;
      const long v = std::strtol(argv[++i], &end, 10);
      if (*end || v < 0)
        usage(("bad value for " + k).c_str());
      return v;
    };
    if (k == "--connections")
      n = val();
    else if (k == "--rounds")
      rounds = int(std::max(1L, val()));
    else if (k == "--method") {
      const std::string m = i + 1 < argc ? argv[++i] : "";
      if (m == "proc")
        method = nt::SnapshotMethod::Proc;
      else if (m == "iterator")
        method = nt::SnapshotMethod::Iterator;
      else
        usage("--method must be proc or iterator");
    } else if (k == "--print")
      print = true;
    else
      usage(("unknown option " + k).c_str());
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "snapshot_bench: needs root (a network namespace, every process's "
                         "descriptors)\n");
    return 1;
  }

  // One process may hold as many descriptors as its hard limit allows (20,000
  // on a machine without CAP_SYS_RESOURCE): the connections are spread over
  // as many holders as that takes, which is also what a real host looks like.
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  const long per_holder = std::min(long(rl.rlim_cur) - 64, 60000L) / 2;
  std::vector<pid_t> children;
  auto stop_all = [&] {
    for (pid_t c : children)
      kill(c, SIGKILL);
    for (pid_t c : children)
      waitpid(c, nullptr, 0);
  };
  const pid_t child = start(children, keep_namespace);
  bool ok = child != 0;
  for (long done = 0, h = 0; ok && done < n; done += per_holder, ++h) {
    const long share = std::min(per_holder, n - done);
    ok = start(children,
               [&](int report) { hold_connections(child, uint16_t(500 + h), share, report); }) != 0;
  }
  if (!ok) {
    stop_all();
    return 1;
  }
  struct stat st {};
  const std::string ns_path = "/proc/" + std::to_string(child) + "/ns/net";
  stat(ns_path.c_str(), &st);
  const uint32_t netns = uint32_t(st.st_ino);

  const long rss_before = rss_peak_kb();
  std::vector<double> ms;
  nt::SnapshotSummary last;
  long found = 0, host = 0;
  for (int r = 0; r < rounds; ++r) {
    const bool final_round = r + 1 == rounds;
    found = host = 0;
    last = nt::for_each_existing(
        nt::TracerOptions{},
        [&](const nt::ExistingConnection& c) {
          ++host;
          if (c.record.netns == netns)
            ++found;
          if (print && final_round)
            std::printf("%s %u %s %s %s %u %llu %llu %u\n",
                        c.record.type == nt::RecordType::Accept ? "accept" : "connect",
                        c.record.pid, c.record.comm.c_str(), endpoint(c.record.local).c_str(),
                        endpoint(c.record.remote).c_str(), c.record.netns,
                        (unsigned long long)c.inode, (unsigned long long)c.cookie, c.other_holders);
        },
        method);
    ms.push_back(double(last.stats.elapsed_ns) / 1e6);
  }
  const long rss_streaming = rss_peak_kb();
  // The same once more through take_snapshot(), which keeps every record.
  const auto t0 = std::chrono::steady_clock::now();
  const size_t kept = nt::take_snapshot(nt::TracerOptions{}, method).connections.size();
  const double vector_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const long rss_vector = rss_peak_kb();
  stop_all();

  for (const auto& w : last.warnings)
    std::fprintf(stderr, "%s\n", w.c_str());
  std::sort(ms.begin(), ms.end());
  const auto& ss = last.stats;
  std::printf(
      "snapshot method %s conns %ld found %ld (want %ld) host_conns %ld netns %u processes %u fds "
      "%llu ms_min %.1f ms_median %.1f diag_ms %.1f walk_ms %.1f rss_before_kb %ld "
      "rss_peak_kb %ld vector_conns %zu vector_ms %.1f vector_rss_peak_kb %ld\n",
      ss.method == nt::SnapshotMethod::Iterator ? "iterator" : "proc", n, found, 2 * n, host,
      ss.netns, ss.processes, (unsigned long long)ss.fds, ms.front(), ms[ms.size() / 2],
      double(ss.diag_ns) / 1e6, double(ss.walk_ns) / 1e6, rss_before, rss_streaming, kept,
      vector_ms, rss_vector);
  return found == 2 * n ? 0 : 1;
}
