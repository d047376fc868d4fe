// benchtool: the C++ half of the benchmarks (tools/bench/run.sh is the other).
//
//   benchtool load [--threads N] [--seconds S | --count N] [--v6] [--rst] [--rate R] [--port P]
//                  [--server-netns NAME --client-netns NAME --addr IP]
//       connect -> accept -> close storm on loopback, within this process.
//       Prints "conns N secs S conn_per_s X cpu_s C failed F" and, with --rate (fixed
//       connections per second), connect latency percentiles in microseconds.
//       With the netns options the acceptor listens on IP inside one network
//       namespace (ip netns add NAME) and the connecting threads run in the
//       other: two "hosts" joined by a veth pair, on this machine.
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
#include <poll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
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

int load(int argc, char** argv) {
  int threads = 1;
  double seconds = 5;
  long count = 0;
  bool v6 = false, rst = false;
  double rate = 0;
  int port = 0;
  std::string server_ns, client_ns, addr;
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&] { return i + 1 < argc ? argv[++i] : (std::exit(64), ""); };
    if (k == "--threads")
      threads = std::atoi(next());
    else if (k == "--seconds")
      seconds = std::atof(next());
    else if (k == "--count")
      count = std::atol(next());
    else if (k == "--v6")
      v6 = true;
    else if (k == "--rst")
      rst = true;
    else if (k == "--rate")
      rate = std::atof(next());
    else if (k == "--port")
      port = std::atoi(next());
    else if (k == "--server-netns")
      server_ns = next();
    else if (k == "--client-netns")
      client_ns = next();
    else if (k == "--addr")
      addr = next();
    else {
      std::fprintf(stderr, "benchtool load: unknown option %s\n", k.c_str());
      return 64;
    }
  }
  if (server_ns.empty() != client_ns.empty() || server_ns.empty() != addr.empty()) {
    std::fprintf(stderr, "benchtool load: --server-netns, --client-netns and --addr go together\n");
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
  std::atomic<long> made{0}, accepted{0}, failed{0}, tickets{0};
  // The acceptor drains every connection made, backlog included, so that
  // "made" is exactly the number of connects and of accepts a tracer sees.
  // poll() with a timeout lets it notice the end without a wake-up connection.
  std::thread acceptor([&] {
    pollfd p{lfd, POLLIN, 0};
    while (!(stop && accepted >= made)) {
      if (poll(&p, 1, 20) <= 0)
        continue;
      int c = accept(lfd, nullptr, nullptr);
      if (c >= 0) {
        close(c);
        ++accepted;
      }
    }
  });
  const auto t0 = Clock::now();
  const double cpu0 = cpu_seconds();
  std::vector<std::vector<double>> lat(threads);
  auto worker = [&](int id) {
    if (!enter_netns(client_ns))
      std::exit(1);
    long i = 0;
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
      if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
        if (rate > 0)
          lat[id].push_back(std::chrono::duration<double, std::micro>(Clock::now() - c0).count());
        ++made;
      } else {
        // Counted, not hidden: a storm whose connects fail (ports stuck in
        // TIME_WAIT, say) measures the load generator, not the tracer.
        ++failed;
      }
      close(fd);
      ++i;
    }
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back(worker, t);
  for (auto& t : ts)
    t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  stop = true;
  acceptor.join();
  std::printf("conns %ld secs %.3f conn_per_s %.0f cpu_s %.3f failed %ld\n", made.load(), secs,
              double(made) / secs, cpu_seconds() - cpu0, failed.load());
  if (rate > 0) {
    std::vector<double> all;
    for (auto& v : lat)
      all.insert(all.end(), v.begin(), v.end());
    percentiles(all, "connect");
  }
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
  if (mode == "tracegen")
    return tracegen(argc, argv);
  if (mode == "latency")
    return latency();
  std::fprintf(stderr, "usage: benchtool load|tracegen|latency [options] (see the comment at the "
                       "top of benchtool.cpp)\n");
  return 64;
}
