// benchtool: the C++ half of the benchmarks (tools/bench/run.sh is the other).
//
//   benchtool load [--threads N] [--seconds S | --count N] [--v6] [--rst] [--rate R] [--port P]
//                  [--one-thread] [--io BYTES [--chunk BYTES]]
//                  [--server-netns NAME --client-netns NAME --addr IP]
//       connect -> accept -> close storm on loopback, within this process
//       (`benchtool load --help` lists the options). Prints "conns N secs S
//       conn_per_s X cpu_s C failed F bytes B" and, with --rate (fixed
//       connections per second), connect latency percentiles in microseconds.
//       With the netns options the acceptor listens on IP inside one network
//       namespace (ip netns add NAME) and the connecting threads run in the
//       other: two "hosts" joined by a veth pair, on this machine.
//   benchtool syscalls [--count N]
//       N getppid() calls in a loop (default 2,000,000); prints "syscalls N
//       cpu_ns_per_call X", from this thread's CPU time, which other work on
//       a shared machine disturbs far less than the wall clock.
//   benchtool tracegen [--lines N] [--seed S] [--procs P] [--json] [--shape sequential|busy]
//                      [--window W]
//       synthetic trace on stdout (arrow lines, or JSON lines with --json):
//       many clients, few servers, IPv4 and IPv6, both ends of each
//       connection. --shape sequential (the default, the shape of the first
//       benchmarks): one ephemeral port counter for every client, each
//       accept right after its connect. --shape busy: what a busy host
//       writes: every connect takes a random ephemeral port from the
//       kernel's default range (32768-60999), up to W connections (default
//       32) are open at once, and each accept comes after a random number of
//       other lines (at most 4 W), so connections to many destinations
//       interleave.
//   benchtool latency
//       reads nettrace JSON lines on stdin and prints the delivery delay (time
//       read minus the event's ts_ns) percentiles in microseconds.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "trace/format.h"

namespace {

using Clock = std::chrono::steady_clock;

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void percentiles(std::vector<double>& v, const char* what) {
  if (v.empty())
    return;
  std::sort(v.begin(), v.end());
  auto at = [&](double p) { return v[std::min(v.size() - 1, size_t(p * double(v.size())))]; };
  std::printf("%s_us p50 %.1f p90 %.1f p99 %.1f max %.1f n %zu\n", what, at(0.5), at(0.9), at(0.99),
              v.back(), v.size());
}

// Moves the calling thread into the network namespace `name` (as made by
// `ip netns add`). Network namespaces are per thread, so the acceptor and the
// connecting threads of one process can sit on two different "hosts".
bool enter_netns(const std::string& name) {
  if (name.empty())
    return true;
  const std::string path = "/run/netns/" + name;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
    std::fprintf(
        stderr,
        "benchtool load: cannot enter network namespace %s: %s (make it with ip netns add)\n",
        name.c_str(), std::strerror(errno));
    if (fd >= 0)
      close(fd);
    return false;
  }
  close(fd);
  return true;
}

const char kLoadHelp[] =
    R"(usage: benchtool load [options]
A connect -> accept -> close storm on loopback, inside this process. Prints one line,
"conns N secs S conn_per_s X cpu_s C failed F bytes B": N connections made (each one
connected and accepted), F connects or transfers that failed, B bytes received by both
ends together (2 x N x the --io size when every transfer completed).

Shape (which system calls each connection costs):
  (default)          two threads: one connects and closes, another accepts and closes
  --one-thread       one thread connects, accepts and closes both ends (fewer context
                     switches, so the fixed cost per system call weighs more)
  --io BYTES         each connection also carries BYTES from client to server and BYTES
                     back before closing (a request and its answer, with TCP_NODELAY on
                     both ends): a syscall-heavy shape
  --chunk BYTES      size of each write and the most each read asks for (default 256; so
                     --io 1024 is at least 4 writes and 4 reads each way)

Amount and rate:
  --seconds S        run for S seconds (default 5)
  --count N          make exactly N connections instead
  --threads N        connecting threads (default 1; not with --one-thread)
  --rate R           R connections per second in all (default: as fast as possible);
                     also prints connect latency percentiles in microseconds

Addresses:
  --v6               IPv6 (::1) instead of IPv4 (127.0.0.1)
  --rst              close the connecting end with RST (SO_LINGER 0) instead of FIN
  --port P           listen on port P (default: any free port)
  --server-netns NAME --client-netns NAME --addr IP
                     listen on IP inside network namespace NAME (made by ip netns add)
                     and connect from the other one: two "hosts" over a veth pair

Exit status: 0 done (failures are counted, not fatal), 1 cannot set up, 64 bad option.
)";

// Writes `n` bytes in calls of `chunk` bytes; false if a write fails.
bool send_n(int fd, long n, long chunk) {
  static const char zeros[65536] = {};
  while (n > 0) {
    const ssize_t w = write(fd, zeros, size_t(std::min(n, chunk)));
    if (w <= 0)
      return false;
    n -= w;
  }
  return true;
}

// Reads until `n` bytes arrived, asking for at most `chunk` per call; returns
// what arrived (less than n when the peer closed early or a read failed).
long recv_n(int fd, long n, long chunk) {
  static thread_local char buf[65536];
  long got = 0;
  while (got < n) {
    const ssize_t r = read(fd, buf, size_t(std::min(n - got, chunk)));
    if (r <= 0)
      break;
    got += r;
  }
  return got;
}

// Parses a whole non-negative number for `opt`, or says what it accepts and exits 64.
long number(const char* opt, const char* text, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text, &end, 10);
  if (errno || end == text || *end || v < lo || v > hi) {
    std::fprintf(stderr, "benchtool: %s wants a whole number from %ld to %ld, not '%s'\n", opt, lo,
                 hi, text);
    std::exit(64);
  }
  return v;
}

int load(int argc, char** argv) {
  int threads = 1;
  double seconds = 5;
  long count = 0, io = 0, chunk = 256;
  bool v6 = false, rst = false, one_thread = false;
  double rate = 0;
  int port = 0;
  std::string server_ns, client_ns, addr;
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "benchtool load: %s needs a value (see benchtool load --help)\n",
                     k.c_str());
        std::exit(64);
      }
      return argv[++i];
    };
    if (k == "--help" || k == "-h") {
      std::fputs(kLoadHelp, stdout);
      return 0;
    } else if (k == "--threads")
      threads = int(number("--threads", next(), 1, 1024));
    else if (k == "--seconds")
      seconds = std::atof(next());
    else if (k == "--count")
      count = number("--count", next(), 1, 1L << 40);
    else if (k == "--v6")
      v6 = true;
    else if (k == "--rst")
      rst = true;
    else if (k == "--one-thread")
      one_thread = true;
    else if (k == "--io")
      io = number("--io", next(), 0, 1L << 30);
    else if (k == "--chunk")
      chunk = number("--chunk", next(), 1, 65536);
    else if (k == "--rate")
      rate = std::atof(next());
    else if (k == "--port")
      port = int(number("--port", next(), 0, 65535));
    else if (k == "--server-netns")
      server_ns = next();
    else if (k == "--client-netns")
      client_ns = next();
    else if (k == "--addr")
      addr = next();
    else {
      std::fprintf(stderr, "benchtool load: unknown option %s (see benchtool load --help)\n",
                   k.c_str());
      return 64;
    }
  }
  if (server_ns.empty() != client_ns.empty() || server_ns.empty() != addr.empty()) {
    std::fprintf(stderr, "benchtool load: --server-netns, --client-netns and --addr go together\n");
    return 64;
  }
  if (one_thread && threads != 1) {
    std::fprintf(stderr, "benchtool load: --one-thread makes one thread do everything; drop "
                         "--threads\n");
    return 64;
  }
  // The listening socket belongs to the namespace of the thread that made
  // it: make it in the server's, then come back for the rest.
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (!enter_netns(server_ns))
    return 1;
  sockaddr_storage ss{};
  socklen_t len;
  int lfd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    if (!addr.empty() && inet_pton(AF_INET6, addr.c_str(), &a->sin6_addr) != 1) {
      std::fprintf(stderr, "benchtool load: --addr %s is not an IPv6 address\n", addr.c_str());
      return 64;
    }
    a->sin6_port = htons(uint16_t(port));
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!addr.empty() && inet_pton(AF_INET, addr.c_str(), &a->sin_addr) != 1) {
      std::fprintf(stderr, "benchtool load: --addr %s is not an IPv4 address\n", addr.c_str());
      return 64;
    }
    a->sin_port = htons(uint16_t(port));
    len = sizeof *a;
  }
  if (bind(lfd, reinterpret_cast<sockaddr*>(&ss), len) || listen(lfd, 4096) ||
      getsockname(lfd, reinterpret_cast<sockaddr*>(&ss), &len)) {
    std::perror("benchtool load: listen");
    return 1;
  }
  if (!server_ns.empty() && setns(home, CLONE_NEWNET) != 0) {
    std::perror("benchtool load: setns back");
    return 1;
  }
  close(home);
  std::atomic<bool> stop{false};
  std::atomic<long> made{0}, accepted{0}, failed{0}, tickets{0}, bytes{0};
  // Small writes in a row would otherwise wait for the peer's (delayed) ACK
  // (Nagle), and the storm would measure ACK timers instead of system calls;
  // request/answer servers turn it off too.
  auto no_delay = [&](int fd) {
    if (io > 0)
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  };
  // The server's half of one connection: take the request, send the answer.
  auto serve = [&](int c) {
    no_delay(c);
    if (io > 0) {
      const long got = recv_n(c, io, chunk);
      bytes += got;
      if (got != io || !send_n(c, io, chunk))
        ++failed;
    }
    close(c);
    ++accepted;
  };
  // The acceptor drains every connection made, backlog included, so that
  // "made" is exactly the number of connects and of accepts a tracer sees.
  // poll() with a timeout lets it notice the end without a wake-up connection.
  std::thread acceptor;
  if (!one_thread)
    acceptor = std::thread([&] {
      pollfd p{lfd, POLLIN, 0};
      while (!(stop && accepted >= made)) {
        if (poll(&p, 1, 20) <= 0)
          continue;
        int c = accept(lfd, nullptr, nullptr);
        if (c >= 0)
          serve(c);
      }
    });
  const auto t0 = Clock::now();
  const double cpu0 = cpu_seconds();
  std::vector<std::vector<double>> lat(threads);
  auto worker = [&](int id) {
    if (!enter_netns(client_ns))
      std::exit(1);
    const auto period = rate > 0 ? std::chrono::duration<double>(double(threads) / rate)
                                 : std::chrono::duration<double>(0);
    auto next = Clock::now();
    for (;;) {
      // With --count each connect takes a ticket first: checking `made`
      // instead let two threads both pass at count - 1 and make one too many.
      if (count ? tickets.fetch_add(1) >= count
                : Clock::now() - t0 >= std::chrono::duration<double>(seconds))
        break;
      if (rate > 0) {
        next += std::chrono::duration_cast<Clock::duration>(period);
        std::this_thread::sleep_until(next);
      }
      int fd = socket(ss.ss_family, SOCK_STREAM, 0);
      if (rst) {
        linger lg{1, 0}; // close with RST instead of FIN
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      }
      auto c0 = Clock::now();
      if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
        // Counted, not hidden: a storm whose connects fail (ports stuck in
        // TIME_WAIT, say) measures the load generator, not the tracer.
        ++failed;
        close(fd);
        continue;
      }
      if (rate > 0)
        lat[id].push_back(std::chrono::duration<double, std::micro>(Clock::now() - c0).count());
      ++made;
      // One thread: the connect returned, so the handshake is done and the
      // connection waits in the backlog; accepting it cannot block.
      const int c = one_thread ? accept(lfd, nullptr, nullptr) : -1;
      if (one_thread && c < 0) {
        ++failed;
        ++accepted; // nothing left to accept for this one
      }
      if (io > 0) {
        no_delay(fd);
        // The request goes out whole before anyone reads it: 1 KiB fits any
        // socket buffer, so one thread cannot deadlock on itself here.
        bool ok = send_n(fd, io, chunk);
        if (c >= 0)
          serve(c);
        const long got = recv_n(fd, io, chunk);
        bytes += got;
        ok = ok && got == io;
        if (!ok)
          ++failed;
      } else if (c >= 0) {
        serve(c);
      }
      close(fd);
    }
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back(worker, t);
  for (auto& t : ts)
    t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  stop = true;
  if (acceptor.joinable())
    acceptor.join();
  std::printf("conns %ld secs %.3f conn_per_s %.0f cpu_s %.3f failed %ld bytes %ld\n", made.load(),
              secs, double(made) / secs, cpu_seconds() - cpu0, failed.load(), bytes.load());
  if (rate > 0) {
    std::vector<double> all;
    for (auto& v : lat)
      all.insert(all.end(), v.begin(), v.end());
    percentiles(all, "connect");
  }
  return 0;
}

// What one system call costs, kernel entry and exit included: the part a
// syscall tracepoint adds to every task on the machine while it is enabled.
int syscalls(int argc, char** argv) {
  long n = 2000000;
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--count" && i + 1 < argc) {
      n = number("--count", argv[++i], 1, 1L << 40);
    } else {
      std::fprintf(stderr, "benchtool syscalls: unknown option %s (use --count N)\n", k.c_str());
      return 64;
    }
  }
  timespec a{}, b{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
  for (long i = 0; i < n; ++i)
    syscall(SYS_getppid); // not getppid(): no library may answer it from a cache
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
  const double ns = double(b.tv_sec - a.tv_sec) * 1e9 + double(b.tv_nsec - a.tv_nsec);
  std::printf("syscalls %ld cpu_ns_per_call %.1f\n", n, ns / double(n));
  return 0;
}

// One connection of tracegen's trace: both ends, written by nettrace's own
// formatter, so the trace is exactly what nettrace prints, in either format.
struct GenConn {
  nt::Record c, s;
};

int tracegen(int argc, char** argv) {
  long lines = 2000000;
  unsigned seed = 1;
  int procs = 64; // distinct client processes (long-lived, many connections each)
  bool json = false, busy = false;
  size_t window = 32;
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--json") {
      json = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::fprintf(stderr, "benchtool tracegen: %s needs a value\n", k.c_str());
      return 64;
    }
    if (k == "--lines")
      lines = std::atol(argv[++i]);
    else if (k == "--seed")
      seed = unsigned(std::atoi(argv[++i]));
    else if (k == "--procs")
      procs = std::max(8, std::atoi(argv[++i]));
    else if (k == "--window")
      window = size_t(std::max(1, std::atoi(argv[++i])));
    else if (k == "--shape") {
      const std::string v = argv[++i];
      if (v != "sequential" && v != "busy") {
        std::fprintf(stderr, "benchtool tracegen: --shape takes sequential or busy, not %s\n",
                     v.c_str());
        return 64;
      }
      busy = v == "busy";
    } else {
      std::fprintf(stderr, "benchtool tracegen: unknown option %s\n", k.c_str());
      return 64;
    }
  }
  std::mt19937 rng(seed);
  const char* server_names[] = {"nginx", "postgres",       "redis-server",
                                "envoy", "kube-apiserver", "coredns"};
  const uint16_t server_ports[] = {443, 5432, 6379, 8080, 6443, 53};
  const char* client_names[] = {"curl",     "python3", "java",       "node",
                                "gunicorn", "kubelet", "prometheus", "go-app"};
  std::string out;
  out.reserve(1 << 20);
  auto flush = [&](bool force) {
    if (force || out.size() > (1 << 20) - 1024) {
      fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  };
  uint64_t ts = 1764000000000000000ull;
  auto emit = [&](nt::Record& r) {
    // The sequential shape keeps its old timing: 25 us to a connect, 5 us on
    // to its accept.
    r.time_ns = ts += busy ? 15000 : r.type == nt::RecordType::Connect ? 25000 : 5000;
    r.has_details = json;
    json ? nt::append_json(out, r) : nt::append_arrow(out, r);
    flush(false);
  };
  uint32_t next_port = 32768;
  // A new connection: which client machine and program, which server, which
  // ephemeral port (the sequential shape counts, the busy one draws).
  auto make = [&](GenConn& g) {
    const int srv = int(rng() % 6), cl = int(rng() % 8);
    const bool v6 = rng() % 4 == 0;
    const int host = int(rng() % 200);
    // A client process is a program on one machine; machines beyond procs/8
    // share processes' identities, which keeps the process count fixed.
    const uint32_t cpid = uint32_t(1000 + cl * 1000 + host % (procs / 8)),
                   spid = uint32_t(500 + srv);
    uint32_t port;
    if (busy) {
      port = 32768 + uint32_t(rng() % (60999 - 32768 + 1));
    } else {
      port = next_port >= 60999 ? 32768 : next_port + 1;
      next_port = port;
    }
    nt::IpAddr cip, sip;
    if (v6) {
      cip.family = sip.family = 6;
      const uint8_t cpre[] = {0x20, 0x01, 0x0d, 0xb8}, spre[] = {0x20, 0x01, 0x0d, 0xb8, 0, 1};
      std::memcpy(cip.bytes.data(), cpre, sizeof cpre);
      std::memcpy(sip.bytes.data(), spre, sizeof spre);
      cip.bytes[14] = uint8_t((0x100 + host) >> 8);
      cip.bytes[15] = uint8_t((0x100 + host) & 0xff);
      sip.bytes[15] = uint8_t(0x10 + srv);
    } else {
      cip.family = sip.family = 4;
      cip.bytes[0] = 10, cip.bytes[1] = 1, cip.bytes[2] = uint8_t(host / 250),
      cip.bytes[3] = uint8_t(host % 250 + 1);
      sip.bytes[0] = 10, sip.bytes[1] = 2, sip.bytes[2] = 0, sip.bytes[3] = uint8_t(srv + 1);
    }
    g.c.type = nt::RecordType::Connect;
    g.s.type = nt::RecordType::Accept;
    g.c.local = {cip, uint16_t(port)};
    g.c.remote = {sip, server_ports[srv]};
    g.c.pid = g.c.tid = cpid;
    g.c.comm = client_names[cl];
    g.s.local = g.c.remote;
    g.s.remote = g.c.local;
    g.s.pid = g.s.tid = spid;
    g.s.comm = server_names[srv];
  };
  const long conns = (lines + 1) / 2; // both ends of each connection
  GenConn g;
  if (!busy) {
    for (long i = 0; i < conns; ++i) {
      make(g);
      emit(g.c);
      emit(g.s);
    }
    flush(true);
    return 0;
  }
  // The busy shape: connections open at once, with the line their connect
  // was written at. A new one never takes a 4-tuple that is open (the kernel
  // would not hand out that port for that destination).
  struct Open {
    GenConn g;
    long at;
  };
  std::vector<Open> open;
  long started = 0, line = 0;
  const long max_delay = long(4 * window);
  auto same_tuple = [](const GenConn& a, const GenConn& b) {
    return a.c.local == b.c.local && a.c.remote == b.c.remote;
  };
  auto accept = [&](size_t i) {
    emit(open[i].g.s);
    ++line;
    open[i] = std::move(open.back());
    open.pop_back();
  };
  while (started < conns || !open.empty()) {
    // The oldest open connection is accepted once it has waited max_delay
    // lines: the delay is bounded.
    size_t oldest = 0;
    for (size_t i = 1; i < open.size(); ++i)
      if (open[i].at < open[oldest].at)
        oldest = i;
    if (!open.empty() && line - open[oldest].at >= max_delay) {
      accept(oldest);
    } else if (started < conns && open.size() < window && (open.empty() || rng() % 2 == 0)) {
      Open o;
      do
        make(o.g);
      while (std::any_of(open.begin(), open.end(),
                         [&](const Open& x) { return same_tuple(x.g, o.g); }));
      o.at = line;
      emit(o.g.c);
      ++line;
      ++started;
      open.push_back(std::move(o));
    } else {
      accept(size_t(rng() % open.size()));
    }
  }
  flush(true);
  return 0;
}

int latency() {
  std::vector<double> delays;
  char* line = nullptr;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, stdin)) > 0) {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    const char* p = std::strstr(line, "\"ts_ns\":");
    if (!p || !std::strstr(line, "\"type\":\"connect\""))
      continue;
    const double ts = std::strtod(p + 8, nullptr);
    const double t = double(now.tv_sec) * 1e9 + double(now.tv_nsec);
    delays.push_back((t - ts) / 1e3);
  }
  free(line);
  percentiles(delays, "delivery");
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "load")
    return load(argc, argv);
  if (mode == "syscalls")
    return syscalls(argc, argv);
  if (mode == "tracegen")
    return tracegen(argc, argv);
  if (mode == "latency")
    return latency();
  std::fprintf(stderr,
               "usage: benchtool load|syscalls|tracegen|latency [options] (see the comment at the "
               "top of benchtool.cpp)\n");
  return 64;
}
