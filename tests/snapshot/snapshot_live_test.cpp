// Live test of the snapshot (src/snapshot, issue 13): real connections, made
// by processes of this test before the snapshot is taken, in the root network
// namespace and in two namespaces joined by a veth pair (ip netns add), must
// each be reported exactly once, with the owner, direction, namespace, socket
// inode and cookie that the processes themselves saw (getsockname,
// getpeername, fstat, SO_COOKIE), and the filters must pick the right ones.
//
// The connections:
//   v4    127.0.0.1, accepted by a pre-forked server (the listener's process
//         forked a worker that accepts), connected by a client that then
//         changes its uid to 65534
//   v6    [::1], connected by a client that then forks: parent and child hold
//         the socket (owner: the lower pid; one other holder)
//   map   a dual-stack [::] server accepting 127.0.0.1 (IPv4-mapped, printed
//         as IPv4)
//   ns4   10.13.0.2 in namespace B -> 10.13.0.1 in namespace A; the client
//         sits in a cgroup of its own
//   ns6   fd13::2 in B -> fd13::1 in A
// Meanwhile another process opens and closes loopback connections without
// pause, about 100 open at a time: no socket may be reported twice.
// Every check runs for both ways of taking the snapshot (/proc and the BPF
// iterator).
// Root only: exits 77 (SKIP) otherwise, or 1 under CI=true.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "snapshot/snapshot.h"
#include "trace/format.h"
#include "tracer/errors.h"

namespace {

int g_failures = 0;
std::vector<pid_t> g_groups; // process groups to kill at the end
std::string g_ns_a, g_ns_b, g_cgroup;

void cleanup() {
  for (pid_t g : g_groups)
    kill(-g, SIGKILL);
  for (pid_t g : g_groups)
    while (waitpid(g, nullptr, 0) < 0 && errno == EINTR) {
    }
  g_groups.clear();
  if (!g_cgroup.empty())
    rmdir(g_cgroup.c_str());
  for (const auto& ns : {g_ns_a, g_ns_b})
    if (!ns.empty())
      (void)!std::system(("ip netns del " + ns + " 2>/dev/null").c_str());
}

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "FAIL: %s\n", why.c_str());
  cleanup();
  std::exit(1);
}

void sh(const std::string& cmd) {
  if (std::system(cmd.c_str()) != 0)
    die("command failed: " + cmd);
}

std::string ep(const sockaddr_storage& ss) {
  nt::Endpoint e;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    e.ip.family = 4;
    std::memcpy(e.ip.bytes.data(), &a->sin_addr, 4);
    e.port = ntohs(a->sin_port);
  } else {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    e.ip.family = 6;
    std::memcpy(e.ip.bytes.data(), &a->sin6_addr, 16);
    e.port = ntohs(a->sin6_port);
  }
  nt::unmap_v4(e.ip);
  std::string s;
  nt::append_endpoint(s, e);
  return s;
}

sockaddr_storage addr(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(port);
  } else if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(port);
  } else {
    die(std::string("bad address ") + ip);
  }
  return ss;
}

socklen_t len_of(const sockaddr_storage& ss) {
  return ss.ss_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
}

// What a process saw of one socket it holds, as a line the snapshot's record
// must reproduce: "<type> <pid> <comm> <local> <remote> fd=<fd> inode=<i> cookie=<c>".
std::string seen(const char* type, int fd) {
  sockaddr_storage l{}, r{};
  socklen_t ll = sizeof l, rl = sizeof r;
  getsockname(fd, reinterpret_cast<sockaddr*>(&l), &ll);
  getpeername(fd, reinterpret_cast<sockaddr*>(&r), &rl);
  struct stat st {};
  fstat(fd, &st);
  uint64_t cookie = 0;
  socklen_t cl = sizeof cookie;
  getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &cl);
  char comm[17] = {};
  prctl(PR_GET_NAME, comm);
  std::ostringstream o;
  o << type << ' ' << getpid() << ' ' << comm << ' ' << ep(l) << ' ' << ep(r) << " fd=" << fd
    << " inode=" << st.st_ino << " cookie=" << cookie;
  return o.str();
}

void say(int out, const std::string& line) {
  const std::string l = line + "\n";
  (void)!write(out, l.data(), l.size()); // < PIPE_BUF: lines of several writers do not mix
}

void enter_netns(const std::string& name, int out) {
  int fd = open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
    say(out, "error cannot enter " + name);
    _exit(1);
  }
  close(fd);
}

int listen_on(const char* ip, int out, bool dual_stack = false) {
  sockaddr_storage ss = addr(ip, 0);
  int l = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ss.ss_family == AF_INET6) {
    int v6only = dual_stack ? 0 : 1;
    setsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  }
  if (bind(l, reinterpret_cast<sockaddr*>(&ss), len_of(ss)) != 0 || listen(l, 16) != 0) {
    say(out, std::string("error listen ") + ip + ": " + std::strerror(errno));
    _exit(1);
  }
  socklen_t len = sizeof ss;
  getsockname(l, reinterpret_cast<sockaddr*>(&ss), &len);
  say(out, "port " + std::to_string(ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)));
  return l;
}

int connect_to(const char* ip, uint16_t port, int out) {
  sockaddr_storage ss = addr(ip, port);
  int c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  for (int tries = 0;; ++tries) { // a fresh veth may need a moment
    if (connect(c, reinterpret_cast<sockaddr*>(&ss), len_of(ss)) == 0)
      return c;
    if (tries > 50) {
      say(out, std::string("error connect ") + ip + ": " + std::strerror(errno));
      _exit(1);
    }
    close(c);
    c = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    usleep(100000);
  }
}

[[noreturn]] void hold() {
  for (;;)
    pause();
}

// A child of this test in a process group of its own, named `comm`, running
// fn(out) and then holding what it made; its lines come back on `in`.
struct Child {
  pid_t pid = 0;
  int in = -1;
  std::string buf;
};

Child spawn(const char* comm, const std::function<void(int)>& fn) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0)
    die("pipe");
  const pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    prctl(PR_SET_NAME, comm);
    fn(p[1]);
    hold();
  }
  setpgid(pid, pid);
  g_groups.push_back(pid);
  close(p[1]);
  return {pid, p[0], {}};
}

// The next line from a child (5 s at most).
std::string line_of(Child& c, const std::string& what) {
  for (;;) {
    const size_t nl = c.buf.find('\n');
    if (nl != std::string::npos) {
      std::string l = c.buf.substr(0, nl);
      c.buf.erase(0, nl + 1);
      if (l.starts_with("error"))
        die(what + ": " + l);
      return l;
    }
    pollfd pfd{c.in, POLLIN, 0};
    if (poll(&pfd, 1, 5000) <= 0)
      die("no line from " + what);
    char tmp[512];
    const ssize_t n = read(c.in, tmp, sizeof tmp);
    if (n <= 0)
      die(what + " died");
    c.buf.append(tmp, size_t(n));
  }
}

uint16_t port_of(Child& c, const std::string& what) {
  const std::string l = line_of(c, what);
  if (!l.starts_with("port "))
    die(what + ": want a port, got " + l);
  return uint16_t(std::stoi(l.substr(5)));
}

uint32_t inode_of(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0)
    die("stat " + path);
  return uint32_t(st.st_ino);
}

// A snapshot record as the line its process would have written, plus the
// fields only the snapshot knows.
std::string line_of(const nt::ExistingConnection& c) {
  std::string local, remote;
  nt::append_endpoint(local, c.record.local);
  nt::append_endpoint(remote, c.record.remote);
  std::ostringstream o;
  o << (c.record.type == nt::RecordType::Accept ? "accept" : "connect") << ' ' << c.record.pid
    << ' ' << c.record.comm << ' ' << local << ' ' << remote << " fd=" << c.owner_fd
    << " inode=" << c.inode << " cookie=" << c.cookie;
  return o.str();
}

struct Expected {
  std::string line; // as seen by the owner
  uint32_t netns;
  uint32_t others;
  uint32_t uid;
};

bool kernel_at_least(int major, int minor) {
  utsname u{};
  uname(&u);
  int ma = 0, mi = 0;
  std::sscanf(u.release, "%d.%d", &ma, &mi);
  return ma > major || (ma == major && mi >= minor);
}

void check(bool ok, const std::string& what) {
  if (ok) {
    std::printf("PASS: %s\n", what.c_str());
  } else {
    std::printf("FAIL: %s\n", what.c_str());
    ++g_failures;
  }
}

// Runs the snapshot with `filter` and compares what it says of our sockets
// (those in `all`) with `want`, line for line; every other record must pass
// the filter too (the processes of other users of the machine show up).
nt::SnapshotMethod g_method = nt::SnapshotMethod::Proc;

void expect(const std::string& name, const nt::TracerOptions& filter,
            const std::map<uint64_t, Expected>& all, const std::vector<uint64_t>& want,
            const std::function<bool(const nt::ExistingConnection&)>& passes) {
  timespec t0{}, t1{};
  clock_gettime(CLOCK_REALTIME, &t0);
  nt::Snapshot s;
  uint64_t announced = ~0ull;
  const nt::SnapshotSummary sum = nt::for_each_existing(
      filter,
      [&](const nt::ExistingConnection& c) {
        if (announced == ~0ull)
          std::printf("  a record came before the count\n"), ++g_failures;
        s.connections.push_back(c);
      },
      g_method, [&](uint64_t n) { announced = n; });
  s.stats = sum.stats;
  s.warnings = sum.warnings;
  if (announced != s.connections.size()) {
    std::printf("  announced %llu connections, emitted %zu\n", (unsigned long long)announced,
                s.connections.size());
    ++g_failures;
  }
  if (s.stats.method != g_method) {
    std::printf("  the snapshot was taken another way than asked\n");
    ++g_failures;
  }
  clock_gettime(CLOCK_REALTIME, &t1);
  const uint64_t lo = uint64_t(t0.tv_sec) * 1000000000u + uint64_t(t0.tv_nsec);
  const uint64_t hi = uint64_t(t1.tv_sec) * 1000000000u + uint64_t(t1.tv_nsec);
  std::vector<std::string> got_lines, want_lines;
  for (uint64_t inode : want) {
    const Expected& e = all.at(inode);
    want_lines.push_back(e.line + " netns=" + std::to_string(e.netns) +
                         " others=" + std::to_string(e.others) + " uid=" + std::to_string(e.uid));
  }
  bool others_ok = true, details_ok = true, once = true;
  std::set<uint64_t> inodes;
  for (const auto& c : s.connections) {
    if (!inodes.insert(c.inode).second) {
      once = false;
      std::printf("  reported twice: %s\n", line_of(c).c_str());
    }
    if (!c.record.has_details || c.record.tid != c.record.pid || c.record.time_ns < lo ||
        c.record.time_ns > hi) {
      details_ok = false;
      std::printf("  bad details: %s\n", line_of(c).c_str());
    }
    if (all.contains(c.inode)) {
      got_lines.push_back(line_of(c) + " netns=" + std::to_string(c.record.netns) + " others=" +
                          std::to_string(c.other_holders) + " uid=" + std::to_string(c.record.uid));
    } else if (!passes(c)) {
      others_ok = false;
      std::printf("  outside the filter: %s\n", line_of(c).c_str());
    }
  }
  std::sort(got_lines.begin(), got_lines.end());
  std::sort(want_lines.begin(), want_lines.end());
  if (got_lines != want_lines) {
    std::printf("  want:\n");
    for (const auto& l : want_lines)
      std::printf("    %s\n", l.c_str());
    std::printf("  got:\n");
    for (const auto& l : got_lines)
      std::printf("    %s\n", l.c_str());
  }
  for (const auto& w : s.warnings)
    std::printf("  warning: %s\n", w.c_str());
  check(got_lines == want_lines && others_ok && details_ok && once,
        std::string(g_method == nt::SnapshotMethod::Proc ? "proc" : "iterator") + ": " + name +
            " (" + std::to_string(want_lines.size()) + " of ours, " +
            std::to_string(s.connections.size()) + " in all)");
}

} // namespace

int main() {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  if (geteuid() != 0) {
    if (const char* ci = std::getenv("CI"); ci && std::string(ci) == "true") {
      std::fprintf(stderr, "FAIL: CI must run the live tests as root\n");
      return 1;
    }
    std::printf("SKIP: needs root (network namespaces, every process's descriptors)\n");
    return 77;
  }
  if (std::system("ip -V >/dev/null 2>&1") != 0) {
    std::printf("SKIP: needs ip (iproute2)\n");
    return 77;
  }
  const std::string me = std::to_string(getpid());
  g_ns_a = "ntsnapA" + me;
  g_ns_b = "ntsnapB" + me;
  const std::string va = "nsa" + me, vb = "nsb" + me;
  sh("ip netns add " + g_ns_a);
  sh("ip netns add " + g_ns_b);
  sh("ip link add " + va + " type veth peer name " + vb);
  sh("ip link set " + va + " netns " + g_ns_a);
  sh("ip link set " + vb + " netns " + g_ns_b);
  for (const auto& [ns, dev, n] : {std::tuple{g_ns_a, va, 1}, std::tuple{g_ns_b, vb, 2}}) {
    const std::string x = "ip -n " + ns + " ";
    sh(x + "link set lo up");
    sh(x + "addr add 10.13.0." + std::to_string(n) + "/24 dev " + dev);
    sh(x + "addr add fd13::" + std::to_string(n) + "/64 dev " + dev + " nodad");
    sh(x + "link set " + dev + " up");
  }
  const uint32_t root_ns = inode_of("/proc/self/ns/net");
  const uint32_t ns_a = inode_of("/run/netns/" + g_ns_a);
  const uint32_t ns_b = inode_of("/run/netns/" + g_ns_b);

  std::map<uint64_t, Expected> all; // by socket inode
  auto expect_sock = [&](const std::string& line, uint32_t netns, uint32_t others, uint32_t uid) {
    const auto at = line.find(" inode=");
    const uint64_t inode = std::stoull(line.substr(at + 7));
    all[inode] = {line, netns, others, uid};
    return inode;
  };

  // v4: a pre-forked server and a client that drops to uid 65534.
  Child srv4 = spawn("snap-pf-srv", [](int out) {
    int l = listen_on("127.0.0.1", out);
    if (fork() == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      prctl(PR_SET_NAME, "snap-pf-wrk");
      int c = accept4(l, nullptr, nullptr, SOCK_CLOEXEC);
      say(out, seen("accept", c));
      hold();
    }
  });
  const uint16_t p4 = port_of(srv4, "v4 server");
  Child cli4 = spawn("snap-v4-cli", [p4](int out) {
    int c = connect_to("127.0.0.1", p4, out);
    const std::string line = seen("connect", c);
    if (setresuid(65534, 65534, 65534) != 0)
      say(out, "error setresuid");
    say(out, line);
  });
  const uint64_t v4_cli = expect_sock(line_of(cli4, "v4 client"), root_ns, 0, 65534);
  const uint64_t v4_srv = expect_sock(line_of(srv4, "v4 worker"), root_ns, 0, 0);

  // v6: a client whose child also holds the socket.
  Child srv6 = spawn("snap-v6-srv", [](int out) {
    int l = listen_on("::1", out);
    say(out, seen("accept", accept4(l, nullptr, nullptr, SOCK_CLOEXEC)));
  });
  const uint16_t p6 = port_of(srv6, "v6 server");
  Child cli6 = spawn("snap-v6-cli", [p6](int out) {
    int c = connect_to("::1", p6, out);
    say(out, seen("connect", c));
    if (fork() == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      prctl(PR_SET_NAME, "snap-v6-kid");
      say(out, seen("connect", c));
      hold();
    }
  });
  const std::string v6_parent = line_of(cli6, "v6 client");
  const std::string v6_kid = line_of(cli6, "v6 client's child");
  const pid_t kid_pid = std::stoi(v6_kid.substr(v6_kid.find(' ') + 1));
  // Owner: the lower pid of the two (the parent, unless pids wrapped).
  const uint64_t v6_cli = expect_sock(kid_pid < cli6.pid ? v6_kid : v6_parent, root_ns, 1, 0);
  const uint64_t v6_srv = expect_sock(line_of(srv6, "v6 server"), root_ns, 0, 0);

  // map: a dual-stack server and an IPv4 client.
  Child srvm = spawn("snap-map-srv", [](int out) {
    int l = listen_on("::", out, true);
    say(out, seen("accept", accept4(l, nullptr, nullptr, SOCK_CLOEXEC)));
  });
  const uint16_t pm = port_of(srvm, "dual-stack server");
  Child clim = spawn("snap-map-cli", [pm](int out) {
    say(out, seen("connect", connect_to("127.0.0.1", pm, out)));
  });
  const uint64_t map_cli = expect_sock(line_of(clim, "mapped client"), root_ns, 0, 0);
  const uint64_t map_srv = expect_sock(line_of(srvm, "dual-stack server"), root_ns, 0, 0);

  // ns4 and ns6: from namespace B to namespace A; the IPv4 client in a cgroup.
  Child srva = spawn("snap-nsA-srv", [&](int out) {
    enter_netns(g_ns_a, out);
    int l4 = listen_on("10.13.0.1", out);
    int l6 = listen_on("fd13::1", out);
    say(out, seen("accept", accept4(l4, nullptr, nullptr, SOCK_CLOEXEC)));
    say(out, seen("accept", accept4(l6, nullptr, nullptr, SOCK_CLOEXEC)));
  });
  const uint16_t pa4 = port_of(srva, "namespace A server");
  const uint16_t pa6 = port_of(srva, "namespace A server");
  // cgroup v2, wherever it is mounted (/sys/fs/cgroup or .../unified).
  std::string cg_root;
  for (const char* c : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"})
    if (access((std::string(c) + "/cgroup.procs").c_str(), W_OK) == 0 &&
        access((std::string(c) + "/cgroup.controllers").c_str(), R_OK) == 0) {
      cg_root = c;
      break;
    }
  if (cg_root.empty())
    die("no writable cgroup v2 hierarchy");
  g_cgroup = cg_root + "/ntsnap" + me;
  if (mkdir(g_cgroup.c_str(), 0755) != 0)
    die("mkdir " + g_cgroup + ": " + std::strerror(errno));
  int pipe_go[2];
  if (pipe2(pipe_go, O_CLOEXEC) != 0)
    die("pipe");
  Child clib = spawn("snap-nsB-cli", [&](int out) {
    close(pipe_go[1]);
    char go;
    (void)!read(pipe_go[0], &go, 1); // in the cgroup before it connects
    enter_netns(g_ns_b, out);
    say(out, seen("connect", connect_to("10.13.0.1", pa4, out)));
    say(out, seen("connect", connect_to("fd13::1", pa6, out)));
  });
  close(pipe_go[0]);
  {
    FILE* f = std::fopen((g_cgroup + "/cgroup.procs").c_str(), "w");
    if (!f || std::fprintf(f, "%d\n", clib.pid) < 0 || std::fclose(f) != 0)
      die("moving the client into " + g_cgroup);
  }
  (void)!write(pipe_go[1], "g", 1);
  close(pipe_go[1]);
  const uint64_t ns4_cli = expect_sock(line_of(clib, "namespace B client"), ns_b, 0, 0);
  const uint64_t ns6_cli = expect_sock(line_of(clib, "namespace B client"), ns_b, 0, 0);
  const uint64_t ns4_srv = expect_sock(line_of(srva, "namespace A server"), ns_a, 0, 0);
  const uint64_t ns6_srv = expect_sock(line_of(srva, "namespace A server"), ns_a, 0, 0);

  // Connections that come and go while the snapshots run: none may be
  // reported twice, and ours must still come out exactly.
  Child churn = spawn("snap-churn", [](int out) {
    int l = listen_on("127.0.0.1", out);
    sockaddr_storage a{};
    socklen_t len = sizeof a;
    getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
    std::vector<int> open_fds;
    for (;;) {
      int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (connect(c, reinterpret_cast<sockaddr*>(&a), len) != 0) {
        close(c);
        continue;
      }
      open_fds.push_back(c);
      open_fds.push_back(accept4(l, nullptr, nullptr, SOCK_CLOEXEC));
      // Slow enough that each connection lives longer than a snapshot (about
      // 100 ms), so both methods meet them; fast enough to keep changing.
      usleep(1000);
      if (open_fds.size() >= 200) { // keep 100 connections open, oldest closed first
        close(open_fds[0]);
        close(open_fds[1]);
        open_fds.erase(open_fds.begin(), open_fds.begin() + 2);
      }
    }
  });
  port_of(churn, "churning server");

  const std::vector<uint64_t> every = {v4_cli,  v4_srv,  v6_cli,  v6_srv,  map_cli,
                                       map_srv, ns4_cli, ns6_cli, ns4_srv, ns6_srv};
  auto any = [](const nt::ExistingConnection&) { return true; };

  // Both ways of taking it, the same answers. The BPF iterator needs 5.11
  // (bpf_sock_from_file): older kernels skip it with a reason; on a newer
  // one a failure to load is a failure.
  for (nt::SnapshotMethod m : {nt::SnapshotMethod::Proc, nt::SnapshotMethod::Iterator}) {
    g_method = m;
    if (m == nt::SnapshotMethod::Iterator) {
      try {
        (void)nt::take_snapshot(nt::TracerOptions{}, m);
      } catch (const nt::TracerError& e) {
        if (kernel_at_least(5, 11)) {
          check(false, std::string("iterator loads on this kernel: ") + e.what());
          break;
        }
        std::printf("SKIP: iterator: kernel older than 5.11: %s\n", e.what());
        break;
      }
    }
    nt::TracerOptions f;
    expect("every connection once, with its owner, direction and namespace", f, all, every, any);

    f = {};
    f.pid = uint32_t(kid_pid);
    // The child alone passes: it owns the socket now, and the parent is the other holder.
    std::map<uint64_t, Expected> kid_view = all;
    kid_view[v6_cli].line = v6_kid;
    expect("--pid the forked child: the child owns the shared socket", f, kid_view, {v6_cli},
           [&](const nt::ExistingConnection& c) { return c.record.pid == f.pid; });

    f = {};
    f.comm = "snap-v6-kid";
    expect("--comm of the forked child", f, kid_view, {v6_cli},
           [&](const nt::ExistingConnection& c) { return c.record.comm == f.comm; });

    f = {};
    f.ports = {p4};
    expect("--port of the pre-forked server: both ends", f, all, {v4_cli, v4_srv},
           [&](const nt::ExistingConnection& c) {
             return c.record.local.port == p4 || c.record.remote.port == p4;
           });

    f = {};
    f.family = 6;
    expect("-6: the IPv6 ends (the IPv4-mapped ones are IPv4)", f, all,
           {v6_cli, v6_srv, ns6_cli, ns6_srv},
           [](const nt::ExistingConnection& c) { return c.record.local.ip.family == 6; });

    f = {};
    f.family = 4;
    expect("-4: the IPv4 ends, IPv4-mapped ones included", f, all,
           {v4_cli, v4_srv, map_cli, map_srv, ns4_cli, ns4_srv},
           [](const nt::ExistingConnection& c) { return c.record.local.ip.family == 4; });

    f = {};
    f.direction = nt::Direction::In;
    expect("--accepts: the accepted ends", f, all, {v4_srv, v6_srv, map_srv, ns4_srv, ns6_srv},
           [](const nt::ExistingConnection& c) { return c.record.type == nt::RecordType::Accept; });

    f = {};
    f.direction = nt::Direction::Out;
    expect(
        "--connects: the connected ends", f, all, {v4_cli, v6_cli, map_cli, ns4_cli, ns6_cli},
        [](const nt::ExistingConnection& c) { return c.record.type == nt::RecordType::Connect; });

    f = {};
    f.netns = ns_a;
    expect("--netns of namespace A", f, all, {ns4_srv, ns6_srv},
           [&](const nt::ExistingConnection& c) { return c.record.netns == ns_a; });

    f = {};
    f.netns = ns_b;
    f.family = 6;
    expect("--netns of namespace B and -6", f, all, {ns6_cli},
           [&](const nt::ExistingConnection& c) {
             return c.record.netns == ns_b && c.record.local.ip.family == 6;
           });

    f = {};
    f.uid = 65534;
    expect("--uid 65534: the client that changed its uid", f, all, {v4_cli},
           [](const nt::ExistingConnection& c) { return c.record.uid == 65534; });

    f = {};
    f.cgroup_path = g_cgroup;
    const uint64_t cg_id = inode_of(g_cgroup);
    expect("--cgroup: the client in its own cgroup", f, all, {ns4_cli, ns6_cli},
           [&](const nt::ExistingConnection& c) { return c.record.cgroup_id == cg_id; });
  }

  cleanup();
  if (g_failures) {
    std::printf("%d check(s) failed\n", g_failures);
    return 1;
  }
  std::printf("all snapshot checks passed\n");
  return 0;
}
