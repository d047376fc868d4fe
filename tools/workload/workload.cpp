// workload: makes TCP connections with a known pid and process name, for the
// quick-start demo, the live and hardening tests and the kernel matrix (where
// it runs in a busybox guest, hence no dependencies beyond libc).
//
//   workload serve   --listen IP:PORT [--comm NAME] [--count N] [--reuseport] [-v]
//   workload connect --to IP:PORT [--bind IP:PORT] [--comm NAME] [--count N] [--threads T]
//                    [--timeout-ms MS] [--expect-fail] [-v]
//
// Both print "pid <pid>" first; serve prints "ready" once it listens. Each
// connection is reported as it happens, so a checker can predict nettrace's
// exact lines:  "accepted <local> <remote>" (serve),
//               "conn <tid> <local> <remote>" (connect, established),
//               "refused <tid> <errno> <local> <remote>" (connect, failed; the
//               local end as getsockname still tells it after the failure).
// IPv6 as [::1]:PORT; an IPv4-mapped IPv6 address prints as the IPv4 address
// it carries, as nettrace prints it. --bind binds each connecting socket first
// (port 0: the kernel picks one at bind); --bind A:P --to A:P is a self-connect.
// --timeout-ms abandons a connect still unanswered after MS (reported as
// "refused" with EINPROGRESS). A server on [::] takes IPv4 clients too (IPV6_V6ONLY off). Exit 0
// when everything behaved as asked, 1 otherwise, 64 on usage. --count 0 serves until killed.
// --hold keeps every connection open until the process is killed (serve: the
// accepted ones; connect: its own, after printing "held"), for the tests of
// connections that exist before nettrace starts.
// --send N (connect) writes N bytes on each connection, shuts its side down and
// reads to the server's end before closing; --read (serve) reads each
// connection to the client's end before closing it: then every byte was
// acknowledged, and close records can be checked for exact byte counts.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Args {
  std::string mode, addr, comm, bind;
  long count = 1;
  int threads = 1;
  bool reuseport = false;
  bool expect_fail = false;
  bool verbose = false; // report every connection (-v)
  long timeout_ms = 0;  // connect: give up after this long, leaving the socket in SYN_SENT
  bool hold = false;    // keep the connections open until killed
  long send = 0;        // connect: bytes to write on each connection
  bool read = false;    // serve: read each connection to its end first
};

// Reads until the peer's end (or an error): what is left of a connection.
void read_to_end(int fd) {
  char buf[16384];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0 || (n < 0 && errno == EINTR))
      continue;
    return;
  }
}

// Writes n bytes; false on an error.
bool write_bytes(int fd, long n) {
  static const std::string chunk(16384, 'w');
  while (n > 0) {
    const ssize_t w = write(fd, chunk.data(), size_t(std::min<long>(n, long(chunk.size()))));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    n -= w;
  }
  return true;
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "workload: %s\nusage: workload serve --listen IP:PORT [--comm NAME] [--count N] "
               "[--reuseport] [--hold] [--read]\n"
               "       workload connect --to IP:PORT [--bind IP:PORT] [--comm NAME] [--count N] "
               "[--threads T] [--timeout-ms MS] [--expect-fail] [--hold] [--send BYTES] [-v]\n",
               why);
  std::exit(64);
}

bool parse_addr(const std::string& s, sockaddr_storage& ss, socklen_t& len) {
  std::memset(&ss, 0, sizeof ss);
  std::string host, port;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return false;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string::npos)
      return false;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (*end || p < 0 || p > 65535)
    return false;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(uint16_t(p));
    len = sizeof *v4;
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(uint16_t(p));
    len = sizeof *v6;
    return true;
  }
  return false;
}

std::string endpoint(const sockaddr_storage& ss) {
  char ip[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    port = ntohs(a->sin_port);
    return std::string(ip) + ":" + std::to_string(port);
  }
  auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
  port = ntohs(a->sin6_port);
  if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
    inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, sizeof ip);
    return std::string(ip) + ":" + std::to_string(port);
  }
  inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
  return "[" + std::string(ip) + "]:" + std::to_string(port);
}

std::string local_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return endpoint(ss);
}

std::string remote_of(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  return endpoint(ss);
}

void set_name(const std::string& comm) {
  if (!comm.empty())
    prctl(PR_SET_NAME, comm.c_str(), 0, 0, 0);
}

int serve(const Args& a) {
  sockaddr_storage ss;
  socklen_t len;
  if (!parse_addr(a.addr, ss, len))
    usage("bad --listen address");
  set_name(a.comm);
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (a.reuseport)
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (ss.ss_family == AF_INET6) {
    // Dual-stack whatever the sysctl says: on [::] IPv4 clients arrive too.
    int zero = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 || listen(fd, 4096) != 0) {
    std::fprintf(stderr, "workload: cannot listen on %s: %s\n", a.addr.c_str(),
                 std::strerror(errno));
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  for (long i = 0; a.count == 0 || i < a.count; ++i) {
    int c = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR) {
        --i;
        continue;
      }
      std::fprintf(stderr, "workload: accept: %s\n", std::strerror(errno));
      return 1;
    }
    if (a.verbose) {
      std::printf("accepted %s %s\n", local_of(c).c_str(), remote_of(c).c_str());
      std::fflush(stdout);
    }
    if (a.read)
      read_to_end(c);
    if (!a.hold)
      close(c); // held ones stay open until the process is killed
  }
  close(fd);
  return 0;
}

int connect_all(const Args& a) {
  sockaddr_storage ss;
  socklen_t len;
  if (!parse_addr(a.addr, ss, len))
    usage("bad --to address");
  sockaddr_storage bind_ss{};
  socklen_t bind_len = 0;
  if (!a.bind.empty() && !parse_addr(a.bind, bind_ss, bind_len))
    usage("bad --bind address");
  set_name(a.comm);
  std::atomic<long> ok{0}, failed{0};
  auto worker = [&] {
    set_name(a.comm); // each thread's comm is its own
    for (long i = 0; i < a.count; ++i) {
      int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (a.timeout_ms > 0) {
        // connect() then fails with EINPROGRESS; close() abandons the connect.
        timeval tv{a.timeout_ms / 1000, (a.timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      }
      if (bind_len) {
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, reinterpret_cast<const sockaddr*>(&bind_ss), bind_len) != 0) {
          std::fprintf(stderr, "workload: cannot bind %s: %s\n", a.bind.c_str(),
                       std::strerror(errno));
          ++failed;
          close(fd);
          continue;
        }
      }
      if (connect(fd, reinterpret_cast<const sockaddr*>(&ss), len) == 0) {
        ++ok;
        if (a.verbose) {
          std::string line =
              "conn " + std::to_string(gettid()) + " " + local_of(fd) + " " + remote_of(fd) + "\n";
          std::fputs(line.c_str(), stdout); // one call: lines of threads do not mix
        }
        if (a.send > 0) {
          if (!write_bytes(fd, a.send)) {
            std::fprintf(stderr, "workload: write: %s\n", std::strerror(errno));
            ++failed;
          }
          shutdown(fd, SHUT_WR);
          read_to_end(fd); // the server's end: it has read (and acknowledged) it all
        }
      } else {
        ++failed;
        if (a.verbose) {
          const int err = errno;
          sockaddr_storage peer = ss;
          std::string line = "refused " + std::to_string(gettid()) + " " + std::to_string(err) +
                             " " + local_of(fd) + " " + endpoint(peer) + "\n";
          std::fputs(line.c_str(), stdout);
        }
      }
      if (!a.hold)
        close(fd);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 1; t < a.threads; ++t)
    threads.emplace_back(worker);
  worker();
  for (auto& t : threads)
    t.join();
  std::printf("connected %ld failed %ld\n", ok.load(), failed.load());
  if (a.hold) {
    std::printf("held\n");
    std::fflush(stdout);
    for (;;)
      pause();
  }
  return a.expect_fail ? (ok == 0 ? 0 : 1) : (failed == 0 ? 0 : 1);
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2)
    usage("no mode");
  Args a;
  a.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc)
        usage(("missing value for " + k).c_str());
      return argv[++i];
    };
    if (k == "--listen" || k == "--to")
      a.addr = val();
    else if (k == "--bind")
      a.bind = val();
    else if (k == "--timeout-ms")
      a.timeout_ms = std::atol(val().c_str());
    else if (k == "--hold")
      a.hold = true;
    else if (k == "--send")
      a.send = std::atol(val().c_str());
    else if (k == "--read")
      a.read = true;
    else if (k == "--comm")
      a.comm = val();
    else if (k == "--count")
      a.count = std::atol(val().c_str());
    else if (k == "--threads")
      a.threads = std::atoi(val().c_str());
    else if (k == "--reuseport")
      a.reuseport = true;
    else if (k == "--expect-fail")
      a.expect_fail = true;
    else if (k == "-v" || k == "--verbose")
      a.verbose = true;
    else
      usage(("unknown option " + k).c_str());
  }
  if (a.addr.empty())
    usage("no address");
  if (a.count < 0 || a.threads < 1)
    usage("--count must be >= 0 and --threads positive");
  if (a.mode == "connect" && a.count == 0)
    usage("connect needs --count >= 1");
  std::printf("pid %d\n", int(getpid()));
  std::fflush(stdout);
  if (a.mode == "serve")
    return serve(a);
  if (a.mode == "connect")
    return connect_all(a);
  usage("mode must be serve or connect");
}
