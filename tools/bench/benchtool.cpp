// benchtool: the C++ half of the benchmarks (tools/bench/run.sh is the other).
//
//   benchtool load [--threads N] [--seconds S | --count N] [--v6] [--rst] [--rate R] [--port P]
//       connect -> accept -> close storm on loopback, within this process.
//       Prints "conns N secs S conn_per_s X cpu_s C" and, with --rate (fixed
//       connections per second), connect latency percentiles in microseconds.
//   benchtool tracegen [--lines N] [--seed S] [--procs P]
//       synthetic arrow trace of realistic shape on stdout: many clients, few
//       servers, ephemeral ports, IPv4 and IPv6, both ends of each connection.
//   benchtool latency
//       reads nettrace JSON lines on stdin and prints the delivery delay (time
//       read minus the event's ts_ns) percentiles in microseconds.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void percentiles(std::vector<double>& v, const char* what) {
  if (v.empty()) return;
  std::sort(v.begin(), v.end());
  auto at = [&](double p) { return v[std::min(v.size() - 1, size_t(p * double(v.size())))]; };
  std::printf("%s_us p50 %.1f p90 %.1f p99 %.1f max %.1f n %zu\n", what, at(0.5), at(0.9), at(0.99), v.back(),
              v.size());
}

int load(int argc, char** argv) {
  int threads = 1;
  double seconds = 5;
  long count = 0;
  bool v6 = false, rst = false;
  double rate = 0;
  int port = 0;
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&] { return i + 1 < argc ? argv[++i] : (std::exit(64), ""); };
    if (k == "--threads") threads = std::atoi(next());
    else if (k == "--seconds") seconds = std::atof(next());
    else if (k == "--count") count = std::atol(next());
    else if (k == "--v6") v6 = true;
    else if (k == "--rst") rst = true;
    else if (k == "--rate") rate = std::atof(next());
    else if (k == "--port") port = std::atoi(next());
    else { std::fprintf(stderr, "benchtool load: unknown option %s\n", k.c_str()); return 64; }
  }
  sockaddr_storage ss{};
  socklen_t len;
  int lfd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    a->sin6_port = htons(uint16_t(port));
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a->sin_port = htons(uint16_t(port));
    len = sizeof *a;
  }
  if (bind(lfd, reinterpret_cast<sockaddr*>(&ss), len) || listen(lfd, 4096) ||
      getsockname(lfd, reinterpret_cast<sockaddr*>(&ss), &len)) {
    std::perror("benchtool load: listen");
    return 1;
  }
  std::atomic<bool> stop{false};
  std::atomic<long> made{0}, accepted{0};
  // The acceptor drains every connection made, backlog included, so that
  // "made" is exactly the number of connects and of accepts a tracer sees.
  // poll() with a timeout lets it notice the end without a wake-up connection.
  std::thread acceptor([&] {
    pollfd p{lfd, POLLIN, 0};
    while (!(stop && accepted >= made)) {
      if (poll(&p, 1, 20) <= 0) continue;
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
    long i = 0;
    const auto period = rate > 0 ? std::chrono::duration<double>(double(threads) / rate) : std::chrono::duration<double>(0);
    auto next = Clock::now();
    for (;;) {
      if (count ? made.load() >= count : Clock::now() - t0 >= std::chrono::duration<double>(seconds)) break;
      if (rate > 0) {
        next += std::chrono::duration_cast<Clock::duration>(period);
        std::this_thread::sleep_until(next);
      }
      int fd = socket(ss.ss_family, SOCK_STREAM, 0);
      if (rst) {
        linger lg{1, 0};  // close with RST instead of FIN
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      }
      auto c0 = Clock::now();
      if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
        if (rate > 0) lat[id].push_back(std::chrono::duration<double, std::micro>(Clock::now() - c0).count());
        ++made;
      }
      close(fd);
      ++i;
    }
  };
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) ts.emplace_back(worker, t);
  for (auto& t : ts) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  stop = true;
  acceptor.join();
  std::printf("conns %ld secs %.3f conn_per_s %.0f cpu_s %.3f\n", made.load(), secs, double(made) / secs,
              cpu_seconds() - cpu0);
  if (rate > 0) {
    std::vector<double> all;
    for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
    percentiles(all, "connect");
  }
  return 0;
}

int tracegen(int argc, char** argv) {
  long lines = 2000000;
  unsigned seed = 1;
  int procs = 64;  // distinct client processes (long-lived, many connections each)
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--lines") lines = std::atol(argv[i + 1]);
    else if (k == "--seed") seed = unsigned(std::atoi(argv[i + 1]));
    else if (k == "--procs") procs = std::max(8, std::atoi(argv[i + 1]));
  }
  std::mt19937 rng(seed);
  const char* server_names[] = {"nginx", "postgres", "redis-server", "envoy", "kube-apiserver", "coredns"};
  const int server_ports[] = {443, 5432, 6379, 8080, 6443, 53};
  const char* client_names[] = {"curl", "python3", "java", "node", "gunicorn", "kubelet", "prometheus", "go-app"};
  std::string out;
  out.reserve(1 << 20);
  long written = 0;
  uint32_t port = 32768;
  while (written < lines) {
    const int s = int(rng() % 6), c = int(rng() % 8);
    const bool v6 = rng() % 4 == 0;
    const int host = int(rng() % 200), srv_host = s;
    // A client process is a program on one machine; machines beyond procs/8
    // share processes' identities, which keeps the process count fixed.
    const int cpid = 1000 + c * 1000 + host % (procs / 8), spid = 500 + s;
    port = port >= 60999 ? 32768 : port + 1;
    char cip[64], sip[64];
    if (v6) {
      std::snprintf(cip, sizeof cip, "[2001:db8::%x]", 0x100 + host);
      std::snprintf(sip, sizeof sip, "[2001:db8:1::%x]", 0x10 + srv_host);
    } else {
      std::snprintf(cip, sizeof cip, "10.1.%d.%d", host / 250, host % 250 + 1);
      std::snprintf(sip, sizeof sip, "10.2.0.%d", srv_host + 1);
    }
    char buf[256];
    int n = std::snprintf(buf, sizeof buf, "%s:%d<-%s:%u|PID=%d CMD=%s\n%s:%u->%s:%d|PID=%d CMD=%s\n", sip,
                          server_ports[s], cip, port, cpid, client_names[c], cip, port, sip, server_ports[s], spid,
                          server_names[s]);
    out.append(buf, size_t(n));
    written += 2;
    if (out.size() > (1 << 20) - 512) {
      fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  fwrite(out.data(), 1, out.size(), stdout);
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
    if (!p || !std::strstr(line, "\"type\":\"connect\"")) continue;
    const double ts = std::strtod(p + 8, nullptr);
    const double t = double(now.tv_sec) * 1e9 + double(now.tv_nsec);
    delays.push_back((t - ts) / 1e3);
  }
  free(line);
  percentiles(delays, "delivery");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "load") return load(argc, argv);
  if (mode == "tracegen") return tracegen(argc, argv);
  if (mode == "latency") return latency();
  std::fprintf(stderr, "usage: benchtool load|tracegen|latency [options] (see the comment at the top of benchtool.cpp)\n");
  return 64;
}
