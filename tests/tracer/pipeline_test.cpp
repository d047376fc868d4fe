// The run loop with a fake source and real or fake sinks: the drain tick, the
// lost-event path, a closed reader, --count and the exit summary, without root
// or a kernel.
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <gtest/gtest.h>
#include <string>
#include <vector>

#include "trace/parse.h"
#include "tracer/line_sink.h"
#include "tracer/nat_source.h"
#include "tracer/pipeline.h"

namespace nt {
namespace {

Record conn(RecordType type, uint16_t lport, uint32_t pid, const char* comm) {
  Record r;
  r.type = type;
  parse_endpoint("127.0.0.1:" + std::to_string(lport), r.local);
  parse_endpoint("127.0.0.1:8080", r.remote);
  r.pid = pid;
  r.comm = comm;
  return r;
}

Record lost(uint64_t n) {
  Record r;
  r.type = RecordType::Lost;
  r.lost = n;
  return r;
}

// Hands out one batch per drain, never waking the loop: like the ring buffer,
// which wakes its reader only when a quarter full.
class BatchSource final : public Source {
public:
  explicit BatchSource(std::vector<std::vector<Record>> batches) : batches_(std::move(batches)) {}
  int fd() const override { return -1; }
  void drain(const RecordCallback& cb) override {
    ++drains;
    if (next_ < batches_.size())
      for (const Record& r : batches_[next_++])
        cb(r);
  }
  bool finished() const override { return next_ == batches_.size(); }
  int drains = 0;

private:
  std::vector<std::vector<Record>> batches_;
  size_t next_ = 0;
};

// Keeps what it receives.
class MemorySink final : public Sink {
public:
  void record(const Record& r) override { got.push_back(r); }
  bool tick() override {
    ++ticks;
    return true;
  }
  std::vector<Record> got;
  int ticks = 0;
};

struct Pipe {
  int r = -1, w = -1;
  Pipe() {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    close_read();
    if (w >= 0)
      close(w);
  }
  void close_read() {
    if (r >= 0)
      close(r);
    r = -1;
  }
  std::string read_all() {
    close(w);
    w = -1;
    std::string s;
    char buf[4096];
    ssize_t n;
    while ((n = read(r, buf, sizeof buf)) > 0)
      s.append(buf, size_t(n));
    return s;
  }
};

volatile std::sig_atomic_t g_never = 0;

// What a run of sources into a LineSink on a pipe gave: the text written, the
// sink's summary and how the run ended.
struct LineRun {
  std::string out, summary;
  LoopEnd end;
};

// Ticks of 1 ms; by default the run ends when the sources are done.
LineRun run_lines(const std::vector<Source*>& sources, const LineSinkOptions& lo = {},
                  bool until_sources_finish = true) {
  Pipe p;
  LineSink sink(p.w, lo);
  RunLoop loop;
  for (Source* s : sources)
    loop.add(*s);
  loop.add(sink);
  LoopOptions o;
  o.tick_ms = 1;
  o.stop_when_sources_finish = until_sources_finish;
  LineRun r;
  r.end = loop.run(g_never, o);
  r.out = p.read_all();
  r.summary = sink.summary();
  return r;
}

TEST(RunLoop, DrainsQuietSourcesEveryTick) {
  // No descriptor ever wakes the loop: only the tick drains the source.
  BatchSource src({{conn(RecordType::Connect, 40000, 7, "curl")},
                   {},
                   {conn(RecordType::Accept, 8080, 9, "nginx")}});
  MemorySink sink;
  RunLoop loop;
  loop.add(src);
  loop.add(sink);
  LoopOptions o;
  o.tick_ms = 5;
  o.stop_when_sources_finish = true;
  EXPECT_EQ(loop.run(g_never, o), LoopEnd::SourcesDone);
  ASSERT_EQ(sink.got.size(), 2u);
  EXPECT_EQ(sink.got[0].comm, "curl");
  EXPECT_EQ(sink.got[1].comm, "nginx");
  EXPECT_GE(src.drains, 3);
  EXPECT_EQ(sink.ticks, src.drains); // one tick after each drain
}

TEST(RunLoop, ASourceDescriptorWakesTheLoop) {
  // A tick of a minute: only the eventfd can make the loop drain within the
  // run's 20 s, and the sink then wants no more.
  class WakingSource final : public Source {
  public:
    WakingSource() : fd_(eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK)) {}
    int fd() const override { return fd_.get(); }
    void drain(const RecordCallback& cb) override {
      uint64_t v;
      if (read(fd_.get(), &v, sizeof v) == sizeof v)
        cb(conn(RecordType::Connect, 40001, 3, "wget"));
    }

  private:
    UniqueFd fd_;
  } src;
  Pipe p;
  LineSinkOptions lo;
  lo.count = 1;
  LineSink sink(p.w, lo);
  RunLoop loop;
  loop.add(src);
  loop.add(sink);
  LoopOptions o;
  o.tick_ms = 60000;
  o.duration_s = 20;
  EXPECT_EQ(loop.run(g_never, o), LoopEnd::SinkDone);
  EXPECT_EQ(p.read_all(), "127.0.0.1:8080<-127.0.0.1:40001|PID=3 CMD=wget\n");
}

TEST(RunLoop, LostEventsBecomeAMarkerAndCountInNoConnection) {
  BatchSource src({{conn(RecordType::Connect, 40000, 7, "curl"), lost(5)}});
  const LineRun r = run_lines({&src});
  EXPECT_EQ(r.end, LoopEnd::SourcesDone);
  EXPECT_EQ(r.out, "127.0.0.1:8080<-127.0.0.1:40000|PID=7 CMD=curl\n"
                   "# lost 5 events: ring buffer full (raise --ringbuf-size)\n");
  EXPECT_EQ(r.summary, "1 connection written");
}

// NAT (issue 16): a translated connection's arrow line is followed by its
// '# nat' marker; an untranslated one is written as always.
TEST(RunLoop, ATranslatedConnectionGetsANatMarkerAfterItsLine) {
  Record c = conn(RecordType::Connect, 40000, 7, "curl");
  Record t = c;
  parse_endpoint("10.42.0.3:53", t.nat_remote);
  parse_endpoint("10.0.0.9:41000", t.nat_local);
  BatchSource src({{c, t}});
  Pipe p;
  LineSink sink(p.w, {});
  RunLoop loop;
  loop.add(src);
  loop.add(sink);
  LoopOptions o;
  o.tick_ms = 1;
  o.stop_when_sources_finish = true;
  EXPECT_EQ(loop.run(g_never, o), LoopEnd::SourcesDone);
  EXPECT_EQ(p.read_all(), "127.0.0.1:8080<-127.0.0.1:40000|PID=7 CMD=curl\n"
                          "127.0.0.1:8080<-127.0.0.1:40000|PID=7 CMD=curl\n"
                          "# nat remote=10.42.0.3:53 local=10.0.0.9:41000\n");
  EXPECT_EQ(sink.summary(), "2 connections written");
}

Endpoint at(const char* text) {
  Endpoint e;
  EXPECT_TRUE(parse_endpoint(text, e)) << text;
  return e;
}

// What a conntrack entry says about each end, as the kernel keeps the two
// tuples (orig: as the first packet left its sender; reply: as the answer
// leaves the responder).
TEST(Nat, TranslationOfAnEntryFromEitherEnd) {
  ConntrackTuples dnat{at("10.42.0.1:50392"), at("10.43.0.10:53"), at("10.42.0.3:53"),
                       at("10.42.0.1:50392")};
  Endpoint r, l;
  // The client's connect: the server's own address; its source unchanged.
  ASSERT_TRUE(translation_of(dnat, at("10.42.0.1:50392"), at("10.43.0.10:53"), r, l));
  EXPECT_EQ(r, at("10.42.0.3:53"));
  EXPECT_EQ(l.ip.family, 0);
  // The server's accept (the entry found by its own tuple, the reply
  // direction): the service address the client asked for.
  ASSERT_TRUE(translation_of(dnat, at("10.42.0.3:53"), at("10.42.0.1:50392"), r, l));
  EXPECT_EQ(r.ip.family, 0);
  EXPECT_EQ(l, at("10.43.0.10:53"));

  // Masquerade as well: the client as the server sees it, and back.
  ConntrackTuples masq{at("10.42.0.1:50392"), at("10.43.0.10:53"), at("10.42.0.3:53"),
                       at("10.42.0.254:61000")};
  ASSERT_TRUE(translation_of(masq, at("10.42.0.1:50392"), at("10.43.0.10:53"), r, l));
  EXPECT_EQ(r, at("10.42.0.3:53"));
  EXPECT_EQ(l, at("10.42.0.254:61000"));
  ASSERT_TRUE(translation_of(masq, at("10.42.0.3:53"), at("10.42.0.254:61000"), r, l));
  EXPECT_EQ(r, at("10.42.0.1:50392"));
  EXPECT_EQ(l, at("10.43.0.10:53"));

  // Not translated: found, nothing to say. Another connection's entry: false.
  ConntrackTuples plain{at("10.0.0.1:1000"), at("10.0.0.2:80"), at("10.0.0.2:80"),
                        at("10.0.0.1:1000")};
  ASSERT_TRUE(translation_of(plain, at("10.0.0.1:1000"), at("10.0.0.2:80"), r, l));
  EXPECT_EQ(r.ip.family + l.ip.family, 0);
  EXPECT_FALSE(translation_of(plain, at("10.0.0.1:1001"), at("10.0.0.2:80"), r, l));
  // A dual-stack socket's mapped peer is the IPv4 conntrack tracks.
  ASSERT_TRUE(
      translation_of(dnat, at("[::ffff:10.42.0.1]:50392"), at("[::ffff:10.43.0.10]:53"), r, l));
  EXPECT_EQ(r, at("10.42.0.3:53"));
}

// Looking never loads conntrack: without nf_conntrack, or with ctnetlink a
// module that is not loaded, one line says why and nothing is asked.
TEST(Nat, ConntrackIsAskedOnlyWhenThatLoadsNothing) {
  char tmpl[] = "/tmp/nt-nat-root.XXXXXX";
  const std::string root = mkdtemp(tmpl);
  auto make = [&](const std::string& path) {
    const std::string full = root + path;
    for (size_t i = 1; i < full.size(); ++i)
      if (full[i] == '/')
        mkdir(full.substr(0, i).c_str(), 0755);
    close(open(full.c_str(), O_CREAT | O_WRONLY, 0644));
  };
  EXPECT_NE(conntrack_unavailable_reason(root).find("nf_conntrack) is not loaded"),
            std::string::npos);
  make("/proc/sys/net/netfilter/nf_conntrack_max");
  // No modules at all (/proc/modules absent): built in, nothing to load.
  EXPECT_EQ(conntrack_unavailable_reason(root), "");
  make("/proc/modules");
  utsname u{};
  uname(&u);
  // Modules, but none on disk for this kernel: nothing to load.
  EXPECT_EQ(conntrack_unavailable_reason(root), "");
  make(std::string("/lib/modules/") + u.release + "/modules.dep");
  EXPECT_NE(conntrack_unavailable_reason(root).find("modprobe nf_conntrack_netlink"),
            std::string::npos);
  make("/sys/module/nf_conntrack_netlink/refcnt");
  EXPECT_EQ(conntrack_unavailable_reason(root), "");
  std::system(("rm -rf " + root).c_str());
}

TEST(RunLoop, JsonSinkWritesLostRecords) {
  Record l = lost(3);
  l.time_ns = 42;
  BatchSource src({{l}});
  LineSinkOptions lo;
  lo.json = true;
  const LineRun r = run_lines({&src}, lo);
  EXPECT_EQ(r.out, "{\"type\":\"lost\",\"ts_ns\":42,\"count\":3}\n");
  EXPECT_EQ(r.summary, "0 connections written");
}

TEST(RunLoop, AClosedReaderEndsAQuietRun) {
  // Nothing to write, ever: only the pipe's EPOLLERR can end the run before
  // its 30 s.
  BatchSource src({});
  Pipe p;
  p.close_read();
  LineSink sink(p.w, {});
  RunLoop loop;
  loop.add(src);
  loop.add(sink);
  LoopOptions o;
  o.tick_ms = 10;
  o.duration_s = 30;
  EXPECT_EQ(loop.run(g_never, o), LoopEnd::SinkClosed);
}

TEST(RunLoop, AReaderGoneMidWriteCountsTheLinesNotWritten) {
  std::signal(SIGPIPE, SIG_IGN);
  Pipe p;
  p.close_read();
  LineSink sink(p.w, {});
  sink.record(conn(RecordType::Connect, 40000, 7, "curl"));
  sink.record(conn(RecordType::Accept, 8080, 9, "nginx"));
  EXPECT_FALSE(sink.tick());
  EXPECT_EQ(sink.summary(), "0 connections written, 2 lines not written (stdout closed)");
}

TEST(RunLoop, CountStopsTheRunAndTheRestIsCounted) {
  BatchSource src(
      {{conn(RecordType::Connect, 40000, 1, "a"), conn(RecordType::Accept, 8080, 2, "b")},
       {conn(RecordType::Connect, 40002, 3, "c")}});
  LineSinkOptions lo;
  lo.count = 2;
  const LineRun r = run_lines({&src}, lo, false);
  EXPECT_EQ(r.end, LoopEnd::SinkDone);
  // The last drain at the end still reads the source: its record is counted.
  EXPECT_EQ(r.summary, "2 connections written, 1 more after --count 2 not written");
  EXPECT_EQ(r.out, "127.0.0.1:8080<-127.0.0.1:40000|PID=1 CMD=a\n"
                   "127.0.0.1:8080->127.0.0.1:8080|PID=2 CMD=b\n");
}

TEST(RunLoop, FailedConnectsNeedTheirFlagInArrowOutput) {
  Record f = conn(RecordType::Failed, 40003, 4, "nc");
  f.error = 111;
  for (bool show : {false, true}) {
    BatchSource src({{conn(RecordType::Connect, 40000, 1, "a"), f}});
    LineSinkOptions lo;
    lo.show_all = show;
    const LineRun r = run_lines({&src}, lo);
    const std::string first = "127.0.0.1:8080<-127.0.0.1:40000|PID=1 CMD=a\n";
    if (show) {
      EXPECT_EQ(r.out,
                first + "# failed ECONNREFUSED 127.0.0.1:8080<-127.0.0.1:40003|PID=4 CMD=nc\n");
      EXPECT_EQ(r.summary, "1 connection and 1 failed connect written");
    } else {
      EXPECT_EQ(r.out, first);
      EXPECT_EQ(r.summary, "1 connection written, 1 failed connect not shown (add --failed)");
    }
  }
}

// Close records need --close in arrow output (and only that flag, not
// --failed); a source's final records (open at exit) come after its last
// drain, and the summary counts them.
class FinishingSource final : public Source {
public:
  explicit FinishingSource(std::vector<Record> last) : last_(std::move(last)) {}
  int fd() const override { return -1; }
  void drain(const RecordCallback&) override {}
  bool finished() const override { return true; }
  void finish(const RecordCallback& cb) override {
    ++finishes;
    for (const Record& r : last_)
      cb(r);
  }
  int finishes = 0;

private:
  std::vector<Record> last_;
};

TEST(RunLoop, ClosesNeedCloseInArrowOutputAndOpenOnesComeAtTheEnd) {
  Record c = conn(RecordType::Close, 40000, 1, "a");
  c.side = Side::Out;
  c.closed_by = ClosedBy::Local;
  c.bytes_sent = 5;
  Record o = conn(RecordType::Open, 40001, 2, "b");
  o.side = Side::In;
  for (const char* flag : {"--failed", "--close"}) {
    BatchSource src({{conn(RecordType::Connect, 40000, 1, "a"), c}});
    FinishingSource fin({o});
    LineSinkOptions lo;
    lo.shown_with = {flag};
    const LineRun r = run_lines({&src, &fin}, lo);
    EXPECT_EQ(fin.finishes, 1);
    const std::string first = "127.0.0.1:8080<-127.0.0.1:40000|PID=1 CMD=a\n";
    if (std::string(flag) == "--close") {
      EXPECT_EQ(r.out, first + "# close duration_ns=0 bytes_sent=5 bytes_received=0 "
                               "retransmits=0 srtt_us=0 closed_by=local last_pid=0 last_comm= "
                               "127.0.0.1:8080<-127.0.0.1:40000|PID=1 CMD=a\n"
                               "# open duration_ns=0 bytes_sent=0 bytes_received=0 "
                               "retransmits=0 srtt_us=0 closed_by=unknown last_pid=0 "
                               "last_comm= 127.0.0.1:8080->127.0.0.1:40001|PID=2 CMD=b\n");
      EXPECT_EQ(r.summary, "1 connection, 1 close and 1 connection open at exit written");
    } else {
      EXPECT_EQ(r.out, first);
      EXPECT_EQ(r.summary, "1 connection written, 1 close not shown (add --close), 1 "
                           "connection open at exit not shown (add --close)");
    }
  }
}

TEST(RunLoop, TheStopFlagEndsTheRunAfterALastDrain) {
  volatile std::sig_atomic_t stop = 1;
  BatchSource src({{conn(RecordType::Connect, 40000, 1, "late")}});
  MemorySink sink;
  RunLoop loop;
  loop.add(src);
  loop.add(sink);
  EXPECT_EQ(loop.run(stop, {}), LoopEnd::Stopped);
  ASSERT_EQ(sink.got.size(), 1u); // what was already waiting is not lost
  EXPECT_EQ(sink.got[0].comm, "late");
}

} // namespace
} // namespace nt
