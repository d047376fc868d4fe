// Unit tests of nt_tracer that need no root: decoding raw ring-buffer records,
// option parsing, and the filters' translation for the kernel.
#include <gtest/gtest.h>
#include <linux/types.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <sstream>
#include <vector>

#include "trace/format.h"
#include "trace/parse.h"
#include "tracer/backend.h"
#include "tracer/cli.h"
#include "tracer/clock_prefix.h"
#include "tracer/errors.h"
#include "tracer/event_decode.h"
#include "tracer/filters.h"
#include "tracer/tracer.h"

extern "C" {
#include "nettrace_event.h"
}

namespace nt {
namespace {

nt_event raw_v4() {
  nt_event e{};
  e.kind = NT_EV_CONNECT;
  e.family = AF_INET;
  e.lport = 40112;
  e.rport = 443;
  e.pid = 4242;
  e.tid = 4243;
  e.uid = 1000;
  e.netns = 4026531840u;
  e.ts_ns = 5'000'000'000ull;
  e.cgroup_id = 77;
  const uint8_t l[4] = {10, 0, 0, 2}, r[4] = {10, 0, 0, 1};
  std::memcpy(e.laddr, l, 4);
  std::memcpy(e.raddr, r, 4);
  std::memcpy(e.comm, "curl", 5);
  return e;
}

TEST(Decode, ConnectBecomesTheArrowLineAndCarriesEveryField) {
  nt_event e = raw_v4();
  ClockOffset clock;
  clock.mono_to_real_ns = 1'000;
  Record r;
  ASSERT_TRUE(decode_event(&e, sizeof e, clock, r));
  std::string line;
  append_arrow(line, r);
  EXPECT_EQ(line, "10.0.0.1:443<-10.0.0.2:40112|PID=4242 CMD=curl\n");
  EXPECT_EQ(r.tid, 4243u);
  EXPECT_EQ(r.uid, 1000u);
  EXPECT_EQ(r.netns, 4026531840u);
  EXPECT_EQ(r.cgroup_id, 77u);
  EXPECT_EQ(r.time_ns, 5'000'001'000ull);
}

TEST(Decode, AcceptV6AndMappedAddresses) {
  nt_event e = raw_v4();
  e.kind = NT_EV_ACCEPT;
  e.family = AF_INET6;
  std::memset(e.laddr, 0, 16);
  e.laddr[15] = 1; // ::1
  const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7};
  std::memcpy(e.raddr, mapped, 16);
  Record r;
  ASSERT_TRUE(decode_event(&e, sizeof e, ClockOffset{}, r));
  std::string line;
  append_arrow(line, r);
  EXPECT_EQ(line, "192.0.2.7:443->[::1]:40112|PID=4242 CMD=curl\n");
}

TEST(Decode, FullSixteenByteCommAndFailedErrno) {
  nt_event e = raw_v4();
  e.kind = NT_EV_FAILED;
  e.error = 111;
  std::memcpy(e.comm, "0123456789abcdef", 16); // no NUL: the kernel's comm is 16 bytes at most
  Record r;
  ASSERT_TRUE(decode_event(&e, sizeof e, ClockOffset{}, r));
  EXPECT_EQ(r.type, RecordType::Failed);
  EXPECT_EQ(r.error, 111);
  EXPECT_EQ(r.comm, "0123456789abcdef");
}

// Issue 13: the kernel's parent and start time reach the record; the fields
// user space fills from /proc start empty, whatever the reused record held.
TEST(Decode, ParentAndStartTimeAndNoStaleIdentity) {
  nt_event e = raw_v4();
  e.ppid = 4321;
  e.start_ns = 123456789012345ull;
  Record r;
  r.exe = "/stale";
  r.container = "stale";
  ASSERT_TRUE(decode_event(&e, sizeof e, ClockOffset{}, r));
  EXPECT_EQ(r.ppid, 4321u);
  EXPECT_EQ(r.start_ns, 123456789012345ull);
  EXPECT_EQ(r.exe, "");
  EXPECT_EQ(r.container, "");
}

TEST(Decode, RejectsShortUnknownAndGarbageRecords) {
  nt_event e = raw_v4();
  Record r;
  EXPECT_FALSE(decode_event(&e, sizeof e - 1, ClockOffset{}, r));
  e.kind = 99;
  EXPECT_FALSE(decode_event(&e, sizeof e, ClockOffset{}, r));
  e = raw_v4();
  e.family = 3;
  EXPECT_FALSE(decode_event(&e, sizeof e, ClockOffset{}, r));
}

std::optional<int> parse(std::vector<const char*> args, NettraceConfig& c,
                         std::string* err_text = nullptr) {
  args.insert(args.begin(), "nettrace");
  std::ostringstream out, err;
  auto rc = parse_cli(int(args.size()), args.data(), c, out, err);
  if (err_text)
    *err_text = err.str();
  return rc;
}

TEST(Cli, ParsesEveryFilter) {
  NettraceConfig c;
  ASSERT_FALSE(
      parse({"--backend", "tracepoint",  "--format", "json",         "-p",         "42",
             "-u",        "0",           "--comm",   "curl",         "--port",     "443",
             "-6",        "--direction", "out",      "--netns",      "4026531840", "-d",
             "2.5",       "-n",          "10",       "--ready-file", "/tmp/r",     "--ringbuf-size",
             "8192",      "--failed",    "--user",   "nobody"},
            c));
  EXPECT_EQ(c.tracer.backend, "tracepoint");
  EXPECT_EQ(c.format, OutputFormat::Json);
  EXPECT_EQ(c.tracer.pid, 42u);
  ASSERT_TRUE(c.tracer.uid.has_value());
  EXPECT_EQ(*c.tracer.uid, 0u);
  EXPECT_EQ(c.tracer.comm, "curl");
  EXPECT_EQ(c.tracer.ports, std::vector<uint16_t>{443});
  EXPECT_EQ(c.tracer.family, 6);
  EXPECT_EQ(c.tracer.direction, Direction::Out);
  EXPECT_EQ(c.tracer.netns, 4026531840u);
  EXPECT_DOUBLE_EQ(c.duration_s, 2.5);
  EXPECT_EQ(c.count, 10u);
  EXPECT_EQ(c.ready_file, "/tmp/r");
  EXPECT_EQ(c.tracer.ringbuf_size, 8192u);
  EXPECT_TRUE(c.show_failed);
  EXPECT_EQ(c.user, "nobody");
}

TEST(Cli, BadInputIsOneLineAndExitCodeOne) {
  for (std::vector<const char*> bad : {std::vector<const char*>{"--bogus"},
                                       {"--backend", "ebpf"},
                                       {"--port", "70000"},
                                       {"-4", "-6"},
                                       {"--format", "xml"},
                                       {"--direction", "sideways"},
                                       {"-p", "abc"}}) {
    NettraceConfig c;
    std::string err;
    auto rc = parse(bad, c, &err);
    ASSERT_TRUE(rc.has_value()) << bad[0];
    EXPECT_EQ(*rc, kExitUsage) << bad[0];
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  }
  NettraceConfig c;
  auto rc = parse({"--help"}, c);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, kExitOk);
}

// Every numeric option's message names the option (every spelling) and says in
// words what it accepts; a word where a number belongs is "not a number".
TEST(Cli, EveryNumericMessageNamesTheOptionAndWhatItAccepts) {
  const std::string duration =
      "-d/--duration: expected a number of seconds greater than 0 and at most 1000000000, got ";
  const std::string pid = "-p/--pid: expected a process id, a whole number from 1 to 4194304, got ";
  const std::string uid =
      "-u/--uid: expected a user name or a numeric uid from 0 to 4294967294, got ";
  const std::string count = "-n/--count: expected a whole number of connections, at least 1, got ";
  const std::string netns = "--netns: expected a network namespace inode, a whole number from 1 to "
                            "4294967295 (ls -L -i /proc/PID/ns/net shows it), got ";
  const std::string ring = "--ringbuf-size: expected a power of two from 4096 to 2147483648 bytes "
                           "(e.g. 4194304 for 4 MiB), got ";
  const std::string port =
      "--port: expected a port number from 1 to 65535, or a comma-separated list of them, got ";
  const std::vector<std::pair<std::vector<const char*>, std::string>> cases = {
      {{"-d", "0"}, duration + "'0' (too small)"},
      {{"--duration", "abc"}, duration + "'abc' (not a number)"},
      {{"-d", "1e400"}, duration + "'1e400' (too large)"},
      {{"-d", "2e9"}, duration + "'2e9' (too large)"},
      {{"-d", "nan"}, duration + "'nan' (not a number)"},
      {{"-p", "abc"}, pid + "'abc' (not a number)"},
      {{"-p", "0"}, pid + "'0' (too small)"},
      {{"--pid", "4194305"}, pid + "'4194305' (too large)"},
      {{"-p", "0x10"}, pid + "'0x10' (not a number)"},
      {{"-u", "4294967295"}, uid + "'4294967295' (too large)"},
      {{"-u", "no-such-user-nettrace"},
       uid + "'no-such-user-nettrace' (no such user on this host)"},
      {{"-n", "0"}, count + "'0' (too small)"},
      {{"-n", "ten"}, count + "'ten' (not a number)"},
      {{"-n", "99999999999999999999999"}, count + "'99999999999999999999999' (too large)"},
      {{"--netns", "x"}, netns + "'x' (not a number)"},
      {{"--netns", "4294967296"}, netns + "'4294967296' (too large)"},
      {{"--ringbuf-size", "5000"}, ring + "'5000' (not a power of two)"},
      {{"--ringbuf-size", "1024"}, ring + "'1024' (too small)"},
      {{"--ringbuf-size", "4MiB"}, ring + "'4MiB' (not a number)"},
      {{"--port", "70000"}, port + "'70000' (too large)"},
      {{"--port", "http"}, port + "'http' (not a number)"},
      {{"--port", "0"}, port + "'0' (too small)"},
      {{"--format", "xml"}, "--format: expected arrow or json, got 'xml'"},
      {{"--backend", "ebpf"}, "--backend: expected auto, fentry, kprobe or tracepoint, got 'ebpf'"},
  };
  for (const auto& [args, message] : cases) {
    NettraceConfig c;
    std::string err;
    auto rc = parse(args, c, &err);
    ASSERT_TRUE(rc.has_value()) << args[0] << " " << args[1];
    EXPECT_EQ(*rc, kExitUsage);
    EXPECT_EQ(err, "nettrace: " + message + " (see nettrace --help)\n");
  }
}

TEST(Cli, UidTakesAUserNameAsBccToolsDo) {
  NettraceConfig c;
  ASSERT_FALSE(parse({"-u", "root"}, c));
  ASSERT_TRUE(c.tracer.uid.has_value());
  EXPECT_EQ(*c.tracer.uid, 0u);
  NettraceConfig n;
  ASSERT_FALSE(parse({"--uid", "nobody"}, n));
  ASSERT_TRUE(n.tracer.uid.has_value());
  EXPECT_EQ(*n.tracer.uid, 65534u);
  NettraceConfig u;
  ASSERT_FALSE(parse({"-u", "1000"}, u)); // a uid without a user is still a uid
  EXPECT_EQ(*u.tracer.uid, 1000u);
}

// --user and --ready-file are checked while parsing, before anything touches
// the kernel (they used to fail only after every program was attached).
TEST(Cli, UserAndReadyFileAreCheckedBeforeTheKernel) {
  NettraceConfig c;
  std::string err;
  auto rc = parse({"--user", "no-such-user-nettrace"}, c, &err);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, kExitUsage);
  EXPECT_EQ(err, "nettrace: --user: expected the name of a user that exists here (e.g. nobody), "
                 "got 'no-such-user-nettrace' (no such user on this host) (see nettrace --help)\n");
  rc = parse({"--ready-file", "/nonexistent/x"}, c, &err);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, kExitUsage);
  EXPECT_EQ(err, "nettrace: --ready-file: expected a file path in a directory nettrace can write "
                 "to, got '/nonexistent/x' (directory /nonexistent: No such file or directory) "
                 "(see nettrace --help)\n");
  rc = parse({"--ready-file", "/"}, c, &err);
  ASSERT_TRUE(rc.has_value());
  EXPECT_NE(err.find("(it is a directory)"), std::string::npos) << err;
  NettraceConfig ok;
  EXPECT_FALSE(parse({"--ready-file", "relative-ready-file", "--user", "root"}, ok));
}

TEST(Cli, TimestampIsForArrowLinesAndVersionNamesTheProgram) {
  NettraceConfig c;
  ASSERT_FALSE(parse({"-t"}, c));
  EXPECT_TRUE(c.timestamp);
  NettraceConfig d;
  ASSERT_FALSE(parse({}, d));
  EXPECT_FALSE(d.timestamp);
  NettraceConfig j;
  std::string err;
  auto rc = parse({"--timestamp", "--format", "json"}, j, &err);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, kExitUsage);
  EXPECT_NE(err.find("ts_ns"), std::string::npos) << err;

  std::vector<const char*> args = {"nettrace", "--version"};
  std::ostringstream out, e;
  NettraceConfig v;
  rc = parse_cli(int(args.size()), args.data(), v, out, e);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, kExitOk);
  const std::string text = out.str();
  EXPECT_EQ(text.rfind("nettrace " NT_PROJECT_VERSION, 0), 0u) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_TRUE(e.str().empty());
}

TEST(ClockPrefix, LocalTimeWithMillisecondsThenASpace) {
  const char* old = std::getenv("TZ");
  const std::string saved = old ? old : "";
  setenv("TZ", "UTC", 1);
  tzset();
  ClockPrefix clock;
  std::string out;
  clock.append(out, 1'700'000'000'123'456'789ull); // 2023-11-14 22:13:20.123 UTC
  clock.append(out, 1'700'000'000'999'999'999ull); // same second, cached
  clock.append(out, 1'700'000'061'004'000'000ull); // a minute later
  EXPECT_EQ(out, "22:13:20.123 22:13:20.999 22:14:21.004 ");
  setenv("TZ", "Asia/Kolkata", 1); // +05:30, no DST
  tzset();
  ClockPrefix india;
  out.clear();
  india.append(out, 1'700'000'000'000'000'000ull);
  EXPECT_EQ(out, "03:43:20.000 ");
  if (old)
    setenv("TZ", saved.c_str(), 1);
  else
    unsetenv("TZ");
  tzset();
}

// netgraph reads what -t writes: the clock prefix is taken off and the rest is
// the ordinary line, connection or marker.
TEST(ClockPrefix, NetgraphReadsTimestampedLines) {
  for (uint8_t kind : {uint8_t(NT_EV_CONNECT), uint8_t(NT_EV_ACCEPT), uint8_t(NT_EV_FAILED)}) {
    nt_event e = raw_v4();
    e.kind = kind;
    e.error = kind == NT_EV_FAILED ? 111 : 0;
    Record r;
    ASSERT_TRUE(decode_event(&e, sizeof e, ClockOffset{}, r));
    std::string plain, stamped;
    append_arrow(plain, r);
    ClockPrefix clock;
    clock.append(stamped, 1'700'000'000'123'456'789ull);
    append_arrow(stamped, r);
    ASSERT_EQ(stamped.substr(13), plain);
    Record from_plain, from_stamped;
    ASSERT_EQ(parse_line(std::string_view(plain).substr(0, plain.size() - 1), from_plain).kind,
              ParseKind::Record);
    ASSERT_EQ(
        parse_line(std::string_view(stamped).substr(0, stamped.size() - 1), from_stamped).kind,
        ParseKind::Record)
        << stamped;
    EXPECT_EQ(from_stamped.type, from_plain.type);
    EXPECT_EQ(from_stamped.local, from_plain.local);
    EXPECT_EQ(from_stamped.remote, from_plain.remote);
    EXPECT_EQ(from_stamped.pid, from_plain.pid);
    EXPECT_EQ(from_stamped.comm, from_plain.comm);
    EXPECT_EQ(from_stamped.error, from_plain.error);
  }
  Record lost;
  EXPECT_EQ(parse_line("09:00:01.5 # lost 3 events: ring buffer full", lost).kind,
            ParseKind::Record);
  EXPECT_EQ(lost.type, RecordType::Lost);
  EXPECT_EQ(lost.lost, 3u);
  Record r;
  EXPECT_EQ(parse_line("09:00:01 10.0.0.1:443<-10.0.0.2:40112|PID=1 CMD=a", r).kind,
            ParseKind::Record);
  // Only a whole clock followed by a space is a prefix.
  EXPECT_EQ(parse_line("09:00:0110.0.0.1:443<-10.0.0.2:40112|PID=1 CMD=a", r).kind,
            ParseKind::Error);
  EXPECT_EQ(parse_line("9:00:01 10.0.0.1:443<-10.0.0.2:40112|PID=1 CMD=a", r).kind,
            ParseKind::Error);
}

// --info's explanations: in words first, for each way a backend fails.
TEST(Explain, EachFailureInWords) {
  KernelFacts f;
  f.kprobes = false;
  f.lockdown = "integrity";
  EXPECT_EQ(explain_failure("kprobe", {"attach", ENOENT}, f),
            "this kernel has no kprobes (CONFIG_KPROBES is off)");
  EXPECT_EQ(explain_failure("fentry", {"load", EPERM}, f),
            "fentry refused by the kernel (EPERM): lockdown or BPF trampolines unavailable (this "
            "kernel is locked down: integrity)");
  f.lockdown = "none";
  EXPECT_EQ(explain_failure("fentry", {"load", EPERM}, f),
            "fentry refused by the kernel (EPERM): lockdown or BPF trampolines unavailable");
  EXPECT_EQ(explain_failure("fentry", {"load", 524}, f),
            "this kernel or architecture has no BPF trampolines, which fentry needs");
  // A kernel that names the helper has it, but not for this program.
  EXPECT_EQ(explain_failure("tracepoint", {"load", EINVAL}, f,
                            "libbpf: prog 'x': unknown func bpf_get_current_task_btf#158\n"),
            "this kernel has the BPF helper bpf_get_current_task_btf (Linux 5.11+) but refuses it "
            "to the tracepoint backend's programs (lockdown, or the kernel is too old to offer it "
            "to them)");
  // Under lockdown=confidentiality (5.10 and 6.1 say "unknown func", 6.12
  // "cannot use helper"; libbpf has turned bpf_probe_read_kernel into
  // bpf_probe_read, whose probe failed).
  KernelFacts locked;
  locked.lockdown = "confidentiality";
  for (const char* log : {"171: (85) call bpf_probe_read#4\nunknown func bpf_probe_read#4\n",
                          "program of this type cannot use helper bpf_probe_read#4\n"})
    EXPECT_EQ(explain_failure("kprobe", {"load", EINVAL}, locked, log),
              "the kernel's lockdown (confidentiality) forbids the BPF helper bpf_probe_read, with "
              "which the kprobe backend reads kernel memory")
        << log;
  // A kernel older than the helper does not know its name: 5.10's verifier.
  EXPECT_EQ(explain_failure("tracepoint", {"load", EINVAL}, f,
                            "7: (85) call unknown#158\ninvalid func unknown#158\n"),
            "this kernel lacks the BPF helper bpf_get_current_task_btf (Linux 5.11+) that the "
            "tracepoint backend calls (the kernel is too old)");
  EXPECT_EQ(explain_failure("fentry", {"load", EINVAL}, f, "invalid func unknown#184\n"),
            "this kernel lacks the BPF helper bpf_get_func_ret (Linux 5.17+) that the fentry "
            "backend calls (the kernel is too old)");
  // A helper the table does not know is still named, without a release.
  EXPECT_EQ(explain_failure("kprobe", {"load", EINVAL}, f, "invalid func unknown#999\n"),
            "this kernel lacks the BPF helper #999 that the kprobe backend calls (the kernel is "
            "too old)");
  EXPECT_EQ(explain_failure("tracepoint", {"load", EINVAL}, f,
                            "libbpf: prog 'x': failed to resolve CO-RE relocation <byte_off>"),
            "a kernel type or field the tracepoint backend reads is missing from this kernel's BTF "
            "(CO-RE relocation failed)");
  EXPECT_EQ(explain_failure("tracepoint", {"load", EACCES}, f),
            "the kernel's verifier rejected the tracepoint programs (nettrace -v --info shows its "
            "log)");
  EXPECT_EQ(explain_failure("kprobe", {"attach", ENOENT}, KernelFacts{}),
            "a kernel function or tracepoint the kprobe backend hooks does not exist in this "
            "kernel (renamed or inlined)");
  KernelFacts no_tracefs;
  no_tracefs.tracefs = false;
  EXPECT_EQ(explain_failure("tracepoint", {"attach", ENOENT}, no_tracefs),
            "tracefs is not mounted, so the syscall tracepoints cannot be found (mount -t tracefs "
            "none /sys/kernel/tracing)");
  // The kprobe backend's accepts are syscall tracepoints too.
  EXPECT_EQ(explain_failure("kprobe", {"attach", ENOENT}, no_tracefs),
            "tracefs is not mounted, so the syscall tracepoints cannot be found (mount -t tracefs "
            "none /sys/kernel/tracing)");
  KernelFacts no_btf;
  no_btf.btf = false;
  EXPECT_EQ(explain_failure("fentry", {}, no_btf),
            "not tried: the kernel has no BTF (/sys/kernel/btf/vmlinux), which CO-RE needs");
  KernelFacts unprivileged;
  unprivileged.privileged = false;
  EXPECT_EQ(explain_failure("tracepoint", {}, unprivileged),
            "not tried: loading BPF programs needs root or CAP_BPF and CAP_PERFMON");
  EXPECT_EQ((AttachFailure{"load", EPERM}.detail()), "load: Operation not permitted (errno 1)");
}

// --port takes a list, like BCC tcpconnect's -P: comma-separated, repeatable,
// at most kMaxPorts; a bad item is named in one line with the option.
TEST(Cli, PortTakesACommaSeparatedList) {
  NettraceConfig c;
  ASSERT_FALSE(parse({"--port", "80,443"}, c));
  EXPECT_EQ(c.tracer.ports, (std::vector<uint16_t>{80, 443}));
  NettraceConfig again;
  ASSERT_FALSE(parse({"--port", "80", "--port", "443,8080"}, again));
  EXPECT_EQ(again.tracer.ports, (std::vector<uint16_t>{80, 443, 8080}));
  NettraceConfig sixteen;
  ASSERT_FALSE(parse({"--port", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16"}, sixteen));
  EXPECT_EQ(sixteen.tracer.ports.size(), kMaxPorts);

  for (const char* bad : {"80,abc", "80,", "0", "70000", "80;443", "-1", "443x"}) {
    NettraceConfig b;
    std::string err;
    auto rc = parse({"--port", bad}, b, &err);
    ASSERT_TRUE(rc.has_value()) << bad;
    EXPECT_EQ(*rc, kExitUsage) << bad;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    EXPECT_NE(err.find("--port"), std::string::npos) << err;
    EXPECT_NE(err.find("1 to 65535"), std::string::npos) << err;
  }
  NettraceConfig many;
  std::string err;
  auto rc = parse({"--port", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"}, many, &err);
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, kExitUsage);
  EXPECT_NE(err.find("--port: 17 ports given; at most 16"), std::string::npos) << err;
}

TEST(Filters, EveryRowIsAnOptionAndDefaultsFilterNothing) {
  // --help lists every row's option: the command line is built from the table.
  NettraceConfig c;
  std::ostringstream out, err;
  const char* argv[] = {"nettrace", "--help"};
  ASSERT_EQ(parse_cli(2, argv, c, out, err), std::optional<int>(kExitOk));
  for (const FilterRow& f : filters()) {
    std::string name = f.option;
    name = name.substr(0, name.find('/'));
    EXPECT_NE(out.str().find(name), std::string::npos) << name;
  }
  // Unset options leave the kernel's config as "no filter" (all zero), but
  // for the direction's explicit "both", the wakeup threshold and the owner
  // map's capacity (not filters).
  BpfConfig b = make_bpf_config(TracerOptions{});
  EXPECT_EQ(b.kernel.direction, uint32_t(NT_DIR_BOTH));
  EXPECT_EQ(b.kernel.wakeup_bytes, uint64_t(TracerOptions{}.ringbuf_size / 4));
  EXPECT_EQ(b.kernel.owners_max, TracerOptions{}.owners_max);
  b.kernel.wakeup_bytes = 0;
  b.kernel.owners_max = 0;
  const nt_config zero{};
  EXPECT_EQ(std::memcmp(&b.kernel, &zero, sizeof zero), 0);
  // Each filter reaches the kernel's config through its row.
  TracerOptions o;
  o.pid = 42;
  o.netns = 4026531840u;
  o.uid = 1000;
  BpfConfig set = make_bpf_config(o);
  EXPECT_EQ(set.kernel.pid, 42u);
  EXPECT_EQ(set.kernel.netns, 4026531840u);
  EXPECT_EQ(set.kernel.filter_uid, 1u);
  EXPECT_EQ(set.kernel.uid, 1000u);
}

TEST(BpfConfig, TranslatesFiltersAndRejectsBadValues) {
  TracerOptions o;
  o.comm = "curl";
  o.family = 6;
  o.direction = Direction::In;
  o.uid = 0;
  o.ports = {80, 443};
  BpfConfig c = make_bpf_config(o);
  EXPECT_EQ(c.kernel.nports, 2u);
  EXPECT_EQ(c.kernel.ports[0], 80);
  EXPECT_EQ(c.kernel.ports[1], 443);
  EXPECT_EQ(c.kernel.ports[2], 0);
  EXPECT_TRUE(c.kernel.filter_comm);
  EXPECT_STREQ(c.kernel.comm, "curl");
  EXPECT_EQ(c.kernel.family, AF_INET6);
  EXPECT_EQ(c.kernel.direction, uint32_t(NT_DIR_ACCEPTS));
  o.direction = Direction::Out;
  EXPECT_EQ(make_bpf_config(o).kernel.direction, uint32_t(NT_DIR_CONNECTS));
  o.family = 4;
  EXPECT_EQ(make_bpf_config(o).kernel.family, AF_INET);
  o.ports.assign(kMaxPorts + 1, 80);
  EXPECT_THROW(make_bpf_config(o), TracerError);
  o.ports.clear();
  EXPECT_TRUE(c.kernel.filter_uid);
  o.comm = "a-name-longer-than-15";
  EXPECT_THROW(make_bpf_config(o), TracerError);
  o.comm.clear();
  o.ringbuf_size = 5000;
  EXPECT_THROW(make_bpf_config(o), TracerError);
  o.ringbuf_size = 4096;
  o.cgroup_path = "/nonexistent/cgroup";
  try {
    make_bpf_config(o);
    FAIL() << "a missing cgroup must be refused";
  } catch (const TracerError& e) {
    EXPECT_EQ(e.exit_code(), kExitUsage);
  }
}

TEST(Backends, TableIsComplete) {
  ASSERT_FALSE(backends().empty());
  for (const auto& b : backends()) {
    EXPECT_NE(b.attach, nullptr) << b.name;
    EXPECT_EQ(find_backend(b.name), &b);
  }
  EXPECT_EQ(find_backend("nope"), nullptr);
  EXPECT_NE(find_backend("tracepoint"), nullptr);
}

// The backend names are listed in one place, the table: what --backend accepts,
// its help and its messages are derived from it, in one stable order.
TEST(Backends, ChoicesComeFromTheTable) {
  const std::vector<std::string> choices = backend_choices();
  ASSERT_EQ(choices.size(), backends().size() + 1);
  EXPECT_EQ(choices.front(), "auto");
  EXPECT_TRUE(std::is_sorted(choices.begin() + 1, choices.end()));
  for (const auto& b : backends())
    EXPECT_NE(std::find(choices.begin(), choices.end(), b.name), choices.end()) << b.name;
  std::string words;
  for (size_t i = 0; i < choices.size(); ++i)
    words += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + choices[i];
  EXPECT_EQ(backend_choices_in_words(), words);
  // Today's table, as users have always seen it.
  EXPECT_EQ(backend_choices_in_words(), "auto, fentry, kprobe or tracepoint");

  std::string help;
  for (const auto& name : choices)
    help += (help.empty() ? "" : "|") + name;
  NettraceConfig c;
  const char* argv[] = {"nettrace", "--help"};
  std::ostringstream out, err;
  EXPECT_EQ(parse_cli(2, argv, c, out, err), kExitOk);
  EXPECT_NE(out.str().find("--backend NAME              " + help + " (default auto"),
            std::string::npos)
      << out.str();
  for (const auto& name : choices) {
    NettraceConfig chosen;
    EXPECT_FALSE(parse({"--backend", name.c_str()}, chosen).has_value()) << name;
    EXPECT_EQ(chosen.tracer.backend, name);
  }
}

} // namespace
} // namespace nt
