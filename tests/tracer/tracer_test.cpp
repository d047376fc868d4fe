// Unit tests of nt_tracer that need no root: decoding raw ring-buffer records,
// option parsing, and the filters' translation for the kernel.
#include <gtest/gtest.h>
#include <linux/types.h>
#include <sys/socket.h>

#include <cstring>
#include <sstream>
#include <vector>

#include "trace/format.h"
#include "tracer/backend.h"
#include "tracer/cli.h"
#include "tracer/errors.h"
#include "tracer/event_decode.h"
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

TEST(BpfConfig, TranslatesFiltersAndRejectsBadValues) {
  TracerOptions o;
  o.comm = "curl";
  o.family = 6;
  o.direction = Direction::In;
  o.uid = 0;
  o.ports = {80, 443};
  BpfConfig c = make_bpf_config(o);
  EXPECT_EQ(c.nports, 2u);
  EXPECT_EQ(c.ports[0], 80);
  EXPECT_EQ(c.ports[1], 443);
  EXPECT_EQ(c.ports[2], 0);
  EXPECT_TRUE(c.filter_comm);
  EXPECT_STREQ(c.comm, "curl");
  EXPECT_EQ(c.family, AF_INET6);
  EXPECT_EQ(c.direction, uint32_t(NT_DIR_ACCEPTS));
  o.direction = Direction::Out;
  EXPECT_EQ(make_bpf_config(o).direction, uint32_t(NT_DIR_CONNECTS));
  o.family = 4;
  EXPECT_EQ(make_bpf_config(o).family, AF_INET);
  o.ports.assign(kMaxPorts + 1, 80);
  EXPECT_THROW(make_bpf_config(o), TracerError);
  o.ports.clear();
  EXPECT_TRUE(c.filter_uid);
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

} // namespace
} // namespace nt
