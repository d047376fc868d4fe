// What the identity (issue 13) costs nettrace's user space, per event and per
// process: prints figures, never a test. Run under callgrind by
// tools/bench/identity_cost.sh, which divides the instructions counted inside
// the measured loop (CALLGRIND_TOGGLE_COLLECT around it) by its count.
//
//   identity_bench first|hot|json-plain|json-identity [N]
// first:  the first sight of N live processes (/proc reads and the cgroup
//         parse), one fill() each;
// hot:    N events of 64 processes already in the cache (the lookup and the
//         copy of the fields into the record, IdentitySource's per-event work);
// json-*: N JSON lines of one record, without and with its identity filled.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <valgrind/callgrind.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "trace/format.h"
#include "trace/identity.h"
#include "tracer/identity_cache.h"

namespace {

// N sleeping children: processes with a /proc entry, an exe and a command line.
std::vector<nt::Record> spawn(size_t n, std::vector<pid_t>& kids) {
  std::vector<nt::Record> out;
  for (size_t i = 0; i < n; ++i) {
    const pid_t p = fork();
    if (p == 0) {
      execl("/bin/sleep", "sleep", "60", static_cast<char*>(nullptr));
      _exit(127);
    }
    kids.push_back(p);
  }
  usleep(200 * 1000); // let them exec
  for (pid_t p : kids) {
    std::ifstream f("/proc/" + std::to_string(p) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    nt::Record r;
    r.type = nt::RecordType::Connect;
    r.pid = uint32_t(p);
    r.comm = "sleep";
    r.start_ns = nt::parse_proc_stat(stat).value_or(nt::ProcStat{}).start_ticks * nt::kNsPerTick;
    r.local.ip.family = r.remote.ip.family = 4;
    out.push_back(r);
  }
  return out;
}

// This process's CPU time (user + system), s: less swayed by other load on a
// shared machine than the wall clock, and it counts the kernel's /proc work.
double now_s() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

} // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const size_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 0;
  std::vector<pid_t> kids;
  nt::IdentityCache cache;
  double t0 = 0, t1 = 0;
  size_t count = 0;
  if (mode == "first") {
    auto recs = spawn(n ? n : 200, kids);
    t0 = now_s();
    CALLGRIND_TOGGLE_COLLECT;
    for (auto& r : recs)
      cache.fill(r);
    CALLGRIND_TOGGLE_COLLECT;
    t1 = now_s();
    count = recs.size();
    if (cache.gone())
      std::fprintf(stderr, "identity_bench: %llu processes gone\n",
                   static_cast<unsigned long long>(cache.gone()));
  } else if (mode == "hot") {
    auto recs = spawn(64, kids);
    for (auto& r : recs)
      cache.fill(r);
    count = n ? n : 1000000;
    nt::Record r;
    t0 = now_s();
    CALLGRIND_TOGGLE_COLLECT;
    for (size_t i = 0; i < count; ++i) {
      r = recs[i & 63]; // what IdentitySource does: copy, fill
      cache.fill(r);
    }
    CALLGRIND_TOGGLE_COLLECT;
    t1 = now_s();
  } else if (mode == "json-plain" || mode == "json-identity") {
    auto recs = spawn(1, kids);
    nt::Record r = recs[0];
    if (mode == "json-identity")
      cache.fill(r);
    count = n ? n : 1000000;
    std::string line;
    t0 = now_s();
    CALLGRIND_TOGGLE_COLLECT;
    for (size_t i = 0; i < count; ++i) {
      line.clear();
      nt::append_json(line, r);
    }
    CALLGRIND_TOGGLE_COLLECT;
    t1 = now_s();
    std::fprintf(stderr, "identity_bench: line of %zu bytes\n", line.size());
  } else {
    std::fprintf(stderr, "usage: identity_bench first|hot|json-plain|json-identity [N]\n");
    return 64;
  }
  for (pid_t p : kids)
    kill(p, SIGKILL);
  for (pid_t p : kids)
    waitpid(p, nullptr, 0);
  std::printf("%s: %zu in %.3f ms (%.0f ns each, CPU time)\n", mode.c_str(), count, (t1 - t0) * 1e3,
              (t1 - t0) * 1e9 / double(count));
  return 0;
}
