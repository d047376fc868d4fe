// Unit tests of the trace formats: escaping, arrow and JSON formatting, and the
// parser on good, hostile and broken lines.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "trace/format.h"
#include "trace/kinds.h"
#include "trace/parse.h"

namespace nt {
namespace {

Endpoint ep(const char* ip, uint16_t port) {
  Endpoint e;
  EXPECT_TRUE(parse_ip(ip, e.ip)) << ip;
  e.port = port;
  return e;
}

Record connect_record() {
  Record r;
  r.type = RecordType::Connect;
  r.remote = ep("10.42.0.4", 10250);
  r.local = ep("10.42.0.1", 50392);
  r.pid = 16254;
  r.comm = "k3s-server";
  return r;
}

std::string arrow(const Record& r) {
  std::string s;
  append_arrow(s, r);
  return s;
}

std::string json(const Record& r) {
  std::string s;
  append_json(s, r);
  return s;
}

TEST(Escape, EveryByteRoundTripsAndOutputIsPrintableAscii) {
  std::string raw;
  for (int c = 1; c < 256; ++c)
    raw.push_back(static_cast<char>(c));
  std::string esc;
  append_escaped_comm(esc, raw);
  for (unsigned char c : esc)
    EXPECT_TRUE(c >= 0x20 && c < 0x7f) << int(c);
  std::string back;
  ASSERT_TRUE(unescape_comm(esc, back));
  EXPECT_EQ(back, raw);
}

TEST(Escape, KnownForms) {
  std::string s;
  append_escaped_comm(s, std::string("a\nb\\c\x80", 6));
  EXPECT_EQ(s, "a\\x0ab\\\\c\\x80");
  std::string out;
  EXPECT_FALSE(unescape_comm("bad\\q", out));
  EXPECT_FALSE(unescape_comm("bad\\x4", out));
  EXPECT_FALSE(unescape_comm("bad\\", out));
}

TEST(Arrow, MatchesThePrototypeFormat) {
  EXPECT_EQ(arrow(connect_record()), "10.42.0.4:10250<-10.42.0.1:50392|PID=16254 CMD=k3s-server\n");
  Record a = connect_record();
  a.type = RecordType::Accept;
  a.remote = ep("10.42.0.1", 50392);
  a.local = ep("10.42.0.4", 10250);
  a.pid = 19110;
  a.comm = "metrics-server";
  EXPECT_EQ(arrow(a), "10.42.0.1:50392->10.42.0.4:10250|PID=19110 CMD=metrics-server\n");
}

TEST(Arrow, Ipv6IsBracketedAndMappedIsWrittenAsIpv4) {
  Record r = connect_record();
  r.remote = ep("2001:db8::1", 443);
  r.local = ep("2001:db8:0:0:0:0:0:2", 40112);
  EXPECT_EQ(arrow(r), "[2001:db8::1]:443<-[2001:db8::2]:40112|PID=16254 CMD=k3s-server\n");
  r.remote = ep("::ffff:127.0.0.1", 80);
  EXPECT_EQ(r.remote.ip.family, 4);
  EXPECT_EQ(arrow(r).substr(0, 14), "127.0.0.1:80<-");
  // A mapped address the kernel hands us unnormalised is still written as IPv4.
  Endpoint raw;
  raw.ip.family = 6;
  raw.ip.bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  raw.port = 7;
  std::string s;
  append_endpoint(s, raw);
  EXPECT_EQ(s, "10.1.2.3:7");
}

TEST(Arrow, HostileNamesStayOnOneLineAndCannotForgeFields) {
  for (std::string name : {std::string("a\nb"), std::string("x|PID=1 CMD=y"), std::string("<-"),
                           std::string("->"), std::string("\"q\""), std::string("b\\s"),
                           std::string("{j}"), std::string("\xff\xfe\x01\r")}) {
    Record r = connect_record();
    r.comm = name;
    std::string line = arrow(r);
    ASSERT_EQ(line.find('\n'), line.size() - 1) << name;
    Record back;
    ASSERT_EQ(parse_line(std::string_view(line).substr(0, line.size() - 1), back).kind,
              ParseKind::Record);
    EXPECT_EQ(back.comm, name);
    EXPECT_EQ(back.pid, 16254u);
    EXPECT_EQ(back.remote, r.remote);
    std::string j = json(r);
    ASSERT_EQ(j.find('\n'), j.size() - 1);
    ASSERT_EQ(parse_line(std::string_view(j).substr(0, j.size() - 1), back).kind,
              ParseKind::Record);
    EXPECT_EQ(back.comm, name);
  }
}

TEST(Json, CarriesEveryFieldAndRoundTrips) {
  Record r = connect_record();
  r.has_details = true;
  r.time_ns = 1795000000123456789ull;
  r.tid = 16260;
  r.uid = 1000;
  r.netns = 4026531840u;
  r.cgroup_id = 1234;
  r.host = "web1";
  std::string j = json(r);
  EXPECT_EQ(
      j, "{\"type\":\"connect\",\"ts_ns\":1795000000123456789,\"direction\":\"out\",\"family\":4,"
         "\"local_ip\":\"10.42.0.1\",\"local_port\":50392,\"remote_ip\":\"10.42.0.4\",\"remote_"
         "port\":10250,"
         "\"pid\":16254,\"tid\":16260,\"uid\":1000,\"comm\":\"k3s-server\",\"netns\":4026531840,"
         "\"cgroup_id\":1234,\"host\":\"web1\"}\n");
  Record back;
  ASSERT_EQ(parse_line(std::string_view(j).substr(0, j.size() - 1), back).kind, ParseKind::Record);
  EXPECT_EQ(back.time_ns, r.time_ns);
  EXPECT_EQ(back.tid, r.tid);
  EXPECT_EQ(back.uid, r.uid);
  EXPECT_EQ(back.netns, r.netns);
  EXPECT_EQ(back.cgroup_id, r.cgroup_id);
  EXPECT_EQ(back.host, "web1");
  EXPECT_EQ(back.local, r.local);
}

// JSON members are found in one pass (src/trace/parse.cpp, Members), not by
// simdjson's lookup; what a line means must not change: the first of two
// members with one name counts, escaped names match, and a line with more
// members than the one-pass table holds still gives every field.
TEST(Json, MembersAreFoundAsSimdjsonsLookupFindsThem) {
  const std::string base = json(connect_record());
  const std::string body = base.substr(1, base.size() - 3); // without "{", "}\n"
  Record back;
  ASSERT_EQ(parse_line("{\"pid\":7," + body + "}", back).kind, ParseKind::Record);
  EXPECT_EQ(back.pid, 7u);
  ASSERT_EQ(parse_line("{\"\\u0063omm\":\"esc\"," + body + "}", back).kind, ParseKind::Record);
  EXPECT_EQ(back.comm, "esc");
  for (int extra : {10, 39, 40, 41, 200}) {
    std::string line = "{";
    for (int i = 0; i < extra; ++i)
      line += "\"x" + std::to_string(i) + "\":" + std::to_string(i) + ",";
    line += body + ",\"exe\":\"/usr/bin/k3s\",\"nat_remote_ip\":\"10.0.0.9\",\"nat_remote_port\":"
                   "8080,\"pid\":9}";
    ASSERT_EQ(parse_line(line, back).kind, ParseKind::Record) << extra;
    EXPECT_EQ(back.pid, 16254u) << extra;
    EXPECT_EQ(back.comm, "k3s-server") << extra;
    EXPECT_EQ(back.local, connect_record().local) << extra;
    EXPECT_EQ(back.remote, connect_record().remote) << extra;
    EXPECT_EQ(back.exe, "/usr/bin/k3s") << extra;
    EXPECT_EQ(back.nat_remote.port, 8080) << extra;
  }
  // A member asked for and absent is absent, not a neighbour's slot.
  ASSERT_EQ(parse_line(base.substr(0, base.size() - 1), back).kind, ParseKind::Record);
  EXPECT_EQ(back.exe, "");
  EXPECT_FALSE(back.has_nat());
}

TEST(Markers, FailedAndLostRoundTripInBothFormats) {
  Record f = connect_record();
  f.type = RecordType::Failed;
  f.error = 111;
  EXPECT_EQ(arrow(f),
            "# failed ECONNREFUSED 10.42.0.4:10250<-10.42.0.1:50392|PID=16254 CMD=k3s-server\n");
  Record l;
  l.type = RecordType::Lost;
  l.lost = 42;
  EXPECT_EQ(arrow(l), "# lost 42 events: ring buffer full (raise --ringbuf-size)\n");
  for (const Record& r : {f, l}) {
    for (const std::string& text : {arrow(r), json(r)}) {
      Record back;
      ASSERT_EQ(parse_line(std::string_view(text).substr(0, text.size() - 1), back).kind,
                ParseKind::Record)
          << text;
      EXPECT_EQ(back.type, r.type);
      EXPECT_EQ(back.lost, r.lost);
      EXPECT_EQ(back.error, r.error);
    }
  }
  EXPECT_NE(json(f).find("\"error\":\"ECONNREFUSED\",\"errno\":111"), std::string::npos);
}

// NAT (issue 16): the '# nat' marker and the nat_* JSON members.
TEST(Nat, MarkerAndJsonFieldsRoundTrip) {
  Record m;
  m.type = RecordType::Nat;
  m.nat_remote = ep("10.42.0.3", 53);
  EXPECT_EQ(arrow(m), "# nat remote=10.42.0.3:53\n");
  m.nat_local = ep("10.42.0.1", 61000);
  EXPECT_EQ(arrow(m), "# nat remote=10.42.0.3:53 local=10.42.0.1:61000\n");
  Record only_local;
  only_local.type = RecordType::Nat;
  only_local.nat_local = ep("fd00::1", 80);
  EXPECT_EQ(arrow(only_local), "# nat local=[fd00::1]:80\n");
  for (const Record& r : {m, only_local})
    for (const std::string& text : {arrow(r), json(r)}) {
      Record back;
      ASSERT_EQ(parse_line(std::string_view(text).substr(0, text.size() - 1), back).kind,
                ParseKind::Record)
          << text;
      EXPECT_EQ(back.type, RecordType::Nat);
      EXPECT_EQ(back.nat_remote, r.nat_remote) << text;
      EXPECT_EQ(back.nat_local, r.nat_local) << text;
    }

  // On a connection: the arrow line is what it always was; JSON carries the
  // fields and reads them back.
  Record c = connect_record();
  const std::string plain_arrow = arrow(c), plain_json = json(c);
  c.nat_remote = ep("10.42.0.3", 53);
  EXPECT_EQ(arrow(c), plain_arrow);
  EXPECT_EQ(plain_json.find("nat_"), std::string::npos);
  const std::string j = json(c);
  EXPECT_NE(j.find(",\"nat_remote_ip\":\"10.42.0.3\",\"nat_remote_port\":53"), std::string::npos)
      << j;
  EXPECT_EQ(j.find("nat_local"), std::string::npos) << j;
  Record back;
  ASSERT_EQ(parse_line(std::string_view(j).substr(0, j.size() - 1), back).kind, ParseKind::Record);
  EXPECT_TRUE(same_all_fields(back, c));
  EXPECT_EQ(back.nat_remote, c.nat_remote);
  EXPECT_FALSE(back.nat_local.ip.family);
  back.nat_remote.port = 54; // the round-trip check sees the fields
  EXPECT_FALSE(same_all_fields(back, c));
}

TEST(Nat, BrokenMarkersAndFieldsAreRefusedWithAReason) {
  Record r;
  for (
      const char* bad :
      {"# nat remote=10.0.0.1", "# nat remote=10.0.0.1:99999", "# nat local=x:1",
       "# nat remote=10.0.0.1:1 extra", "# nat what=1.2.3.4:5",
       "# nat local=10.0.0.1:1 remote=10.0.0.2:2",
       R"({"type":"connect","local_ip":"10.0.0.1","local_port":1,"remote_ip":"10.0.0.2","remote_port":2,"pid":1,"comm":"c","nat_remote_ip":"10.0.0.3"})",
       R"({"type":"connect","local_ip":"10.0.0.1","local_port":1,"remote_ip":"10.0.0.2","remote_port":2,"pid":1,"comm":"c","nat_local_ip":"x","nat_local_port":3})",
       R"({"type":"nat"})"}) {
    const ParseResult res = parse_line(bad, r);
    EXPECT_EQ(res.kind, ParseKind::Error) << bad;
    EXPECT_FALSE(res.error.empty()) << bad;
  }
}

TEST(Existing, PlainLinesByTheirDirectionAndJsonWithIt) {
  // An existing connection prints as the connect or accept line it is, after
  // a "# snapshot N connections" marker; JSON says "existing" and the
  // direction, and reads back as such.
  Record in = connect_record();
  in.type = RecordType::Existing;
  in.side = Side::In;
  EXPECT_EQ(arrow(in), "10.42.0.4:10250->10.42.0.1:50392|PID=16254 CMD=k3s-server\n");
  Record out = in;
  out.side = Side::Out;
  EXPECT_EQ(arrow(out), "10.42.0.4:10250<-10.42.0.1:50392|PID=16254 CMD=k3s-server\n");
  for (const Record& r : {in, out}) {
    const std::string text = json(r);
    EXPECT_NE(text.find(r.side == Side::In
                            ? "\"type\":\"existing\",\"ts_ns\":0,\"direction\":\"in\""
                            : "\"type\":\"existing\",\"ts_ns\":0,\"direction\":\"out\""),
              std::string::npos)
        << text;
    Record back;
    ASSERT_EQ(parse_line(std::string_view(text).substr(0, text.size() - 1), back).kind,
              ParseKind::Record);
    EXPECT_EQ(back.type, RecordType::Existing);
    EXPECT_EQ(back.side, r.side);
    EXPECT_TRUE(same_all_fields(back, r));
    // The arrow line reads back as the connect or accept it shows.
    const std::string line = arrow(r);
    ASSERT_EQ(parse_line(std::string_view(line).substr(0, line.size() - 1), back).kind,
              ParseKind::Record);
    EXPECT_EQ(back.type, r.side == Side::In ? RecordType::Accept : RecordType::Connect);
    EXPECT_TRUE(same_arrow_fields(back, r));
  }
  Record bad;
  EXPECT_EQ(parse_line("{\"type\":\"existing\",\"ts_ns\":1,\"family\":4,\"local_ip\":\"1.2.3.4\","
                       "\"local_port\":1,\"remote_ip\":\"1.2.3.5\",\"remote_port\":2,\"pid\":1,"
                       "\"comm\":\"x\"}",
                       bad)
                .kind,
            ParseKind::Error); // no direction: which end is it?
  Record snap;
  snap.type = RecordType::Snapshot;
  snap.count = 3;
  EXPECT_EQ(arrow(snap), "# snapshot 3 connections\n");
  Record back;
  ASSERT_EQ(parse_line("# snapshot 3 connections", back).kind, ParseKind::Record);
  EXPECT_EQ(back.type, RecordType::Snapshot);
  EXPECT_EQ(back.count, 3u);
  EXPECT_EQ(json(snap), "{\"type\":\"snapshot\",\"ts_ns\":0,\"count\":3}\n");
}

// Close and open records: the side comes from the record; every field of the
// connection's life survives both forms; a close without owner has no side.
TEST(Markers, CloseAndOpenRoundTripInBothFormats) {
  Record c = connect_record();
  c.type = RecordType::Close;
  c.side = Side::In;
  c.closed_by = ClosedBy::Peer;
  c.duration_ns = 123456789;
  c.bytes_sent = 10240;
  c.bytes_received = 1048576;
  c.retransmits = 2;
  c.srtt_us = 31;
  c.last_pid = 777;
  c.last_comm = "a b\\c";
  EXPECT_EQ(arrow(c), "# close duration_ns=123456789 bytes_sent=10240 bytes_received=1048576 "
                      "retransmits=2 srtt_us=31 closed_by=peer last_pid=777 last_comm=a\\x20b\\\\c "
                      "10.42.0.4:10250->10.42.0.1:50392|PID=16254 CMD=k3s-server\n");
  EXPECT_NE(json(c).find("\"type\":\"close\",\"ts_ns\":0,\"direction\":\"in\""), std::string::npos)
      << json(c);
  EXPECT_NE(json(c).find(",\"duration_ns\":123456789,\"bytes_sent\":10240,\"bytes_received\":"
                         "1048576,\"retransmits\":2,\"srtt_us\":31,\"closed_by\":\"peer\","
                         "\"last_pid\":777,\"last_comm\":\"a b\\\\\\\\c\"}"),
            std::string::npos)
      << json(c);
  Record reset = c;
  reset.side = Side::Out;
  reset.closed_by = ClosedBy::PeerReset;
  reset.error = 104;
  reset.last_comm.clear();
  Record evicted = c;
  evicted.side = Side::None;
  evicted.owner_evicted = true;
  evicted.pid = 0;
  evicted.comm.clear();
  EXPECT_NE(arrow(evicted).find(" owner=evicted 10.42.0.4:10250<-"), std::string::npos);
  EXPECT_NE(json(evicted).find("\"direction\":\"unknown\""), std::string::npos);
  EXPECT_NE(json(evicted).find(",\"owner_unknown\":\"evicted\"}"), std::string::npos);
  Record open = c;
  open.type = RecordType::Open;
  EXPECT_EQ(arrow(open).substr(0, 7), "# open ");
  for (const Record& r : {c, reset, evicted, open}) {
    for (const std::string& text : {arrow(r), json(r)}) {
      Record back;
      ASSERT_EQ(parse_line(std::string_view(text).substr(0, text.size() - 1), back).kind,
                ParseKind::Record)
          << text;
      EXPECT_TRUE(same_arrow_fields(back, r)) << text;
      EXPECT_EQ(side_of(back), r.side) << text;
    }
  }
  Record back;
  EXPECT_EQ(parse_line("# close duration_ns=1 1.2.3.4:5<-6.7.8.9:10|PID=1 CMD=x", back).kind,
            ParseKind::Error);
  EXPECT_EQ(parse_line("{\"type\":\"close\",\"direction\":\"unknown\",\"local_ip\":\"6.7.8.9\","
                       "\"local_port\":10,\"remote_ip\":\"1.2.3.4\",\"remote_port\":5,\"pid\":0,"
                       "\"comm\":\"\",\"duration_ns\":1,\"bytes_sent\":1,\"bytes_received\":1,"
                       "\"retransmits\":0,\"srtt_us\":1,\"closed_by\":\"local\",\"last_pid\":0,"
                       "\"last_comm\":\"\"}",
                       back)
                .kind,
            ParseKind::Error); // unknown direction without the reason
  Record ev;
  ev.type = RecordType::Evicted;
  ev.evicted = 5;
  EXPECT_EQ(arrow(ev),
            "# evicted 5 owners: owner map full, their closes report pid 0 (raise --max-open)\n");
  ASSERT_EQ(parse_line(json(ev).substr(0, json(ev).size() - 1), back).kind, ParseKind::Record);
  EXPECT_EQ(back.evicted, 5u);
}

TEST(Parse, SkipsBlankCommentsBannersAndCrlf) {
  Record r;
  EXPECT_EQ(parse_line("", r).kind, ParseKind::Skip);
  EXPECT_EQ(parse_line("   ", r).kind, ParseKind::Skip);
  EXPECT_EQ(parse_line("# a comment", r).kind, ParseKind::Skip);
  EXPECT_EQ(parse_line("Attaching 5 probes...", r).kind, ParseKind::Skip);
  EXPECT_EQ(parse_line("Listening for TCPv4 traffic...", r).kind, ParseKind::Skip);
  ASSERT_EQ(parse_line("1.2.3.4:5<-6.7.8.9:10|PID=3 CMD=a b\r", r).kind, ParseKind::Record);
  EXPECT_EQ(r.comm, "a b");
}

TEST(Parse, RejectsBrokenLinesWithAReason) {
  for (const char* bad :
       {"garbage", "1.2.3.4:5<-6.7.8.9:10", "1.2.3.4:5=6.7.8.9:10|PID=1 CMD=x",
        "1.2.3.4:70000<-6.7.8.9:10|PID=1 CMD=x", "1.2.3:5<-6.7.8.9:10|PID=1 CMD=x",
        "1.2.3.4:5<-6.7.8.9:10|PID=x CMD=x", "1.2.3.4:5<-6.7.8.9:10|PID=1",
        "::1:5<-::1:6|PID=1 CMD=x", "[1.2.3.4]:5<-6.7.8.9:10|PID=1 CMD=x", "{\"type\":\"connect\"}",
        "{not json", "[1,2]", "# lost many", "# failed EWHAT 1.2.3.4:5<-6.7.8.9:10|PID=1 CMD=x",
        "# failed errno=4096 1.2.3.4:5<-6.7.8.9:10|PID=1 CMD=x",
        "# failed errno=44230 1.2.3.4:5<-6.7.8.9:10|PID=1 CMD=x",
        "{\"type\":\"connect\",\"local_ip\":\"1.2.3.4\",\"local_port\":99999,"
        "\"remote_ip\":\"1.2.3.4\",\"remote_port\":1,\"pid\":1,\"comm\":\"x\"}"}) {
    Record r;
    ParseResult res = parse_line(bad, r);
    EXPECT_EQ(res.kind, ParseKind::Error) << bad;
    EXPECT_FALSE(res.error.empty()) << bad;
  }
}

// Both forms of a failed connect take errno values up to the kernel's
// MAX_ERRNO and no further, so whatever one reads the other reads too.
TEST(Parse, FailedErrnoStopsAtMaxErrnoInBothForms) {
  Record r;
  ASSERT_EQ(parse_line("# failed errno=4095 1.2.3.4:5<-6.7.8.9:10|PID=1 CMD=x", r).kind,
            ParseKind::Record);
  EXPECT_EQ(r.error, 4095);
  std::string json;
  append_json(json, r);
  json.pop_back();
  Record back;
  ASSERT_EQ(parse_line(json, back).kind, ParseKind::Record) << json;
  EXPECT_EQ(back.error, 4095);
  EXPECT_EQ(
      parse_line("{\"type\":\"failed\",\"local_ip\":\"6.7.8.9\",\"local_port\":10,\"remote_ip\":"
                 "\"1.2.3.4\",\"remote_port\":5,\"pid\":1,\"comm\":\"x\",\"errno\":4096}",
                 r)
          .kind,
      ParseKind::Error);
}

// parse_ip is hand-written; it must take exactly what inet_pton takes (the
// fuzz target fuzz_parse_ip checks any bytes, these are the known corners).
TEST(Address, AcceptsExactlyWhatInetPtonAccepts) {
  const std::pair<std::string, bool> cases[] = {
      {"1.2.3.4", true},
      {"0.0.0.0", true},
      {"255.255.255.255", true},
      {"256.1.1.1", false},
      {"1.2.3", false},
      {"1.2.3.4.5", false},
      {"01.2.3.4", false},
      {"1.2.3.00", false},
      {"1..2.3", false},
      {".1.2.3", false},
      {"1.2.3.", false},
      {" 1.2.3.4", false},
      {"1.2.3.4 ", false},
      {"1.2.3.4x", false},
      {"0x1.2.3.4", false},
      {"", false},
      {"::", true},
      {"::1", true},
      {"1::", true},
      {":1::2", false},
      {"1:", false},
      {":::", false},
      {"1::2::3", false},
      {"1:2:3:4:5:6:7:8", true},
      {"1:2:3:4:5:6:7:8:9", false},
      {"1:2:3:4:5:6:7::", true},
      {"1:2:3:4:5:6:7:8::", false},
      {"::1:2:3:4:5:6:7:8", false},
      {"12345::", false},
      {"0000:0000::FFFF", true},
      {"abcd:EF01::", true},
      {"g::", false},
      {"::ffff:1.2.3.4", true},
      {"::1.2.3.4", true},
      {"1:2:3:4:5:6:1.2.3.4", true},
      {"1:2:3:4:5:6:7:1.2.3.4", false},
      {"::1.2.3", false},
      {"::01.2.3.4", false},
      {"::1.2.3.4:5", false},
      {"::ffff:256.1.1.1", false},
      {"fe80::1%eth0", false},
      {"1.2.3.4:80", false},
      {"[::1]", false},
      {"0000:0000:0000:0000:0000:0000:255.255.255.255", true},
      {std::string("1.2.3.4\0junk", 12), true},
      {std::string("::1\0:", 5), true},
      {std::string("\0", 1), false},
      {std::string(47, '1'), false}};
  for (const auto& [text, ok] : cases) {
    IpAddr ip;
    EXPECT_EQ(parse_ip(text, ip), ok) << text;
    // The same verdict and bytes as libc on the NUL-terminated text.
    std::string c(text.c_str());
    const bool v6 = text.find(':') != std::string::npos;
    uint8_t want[16] = {};
    const bool libc = text.size() <= 46 && inet_pton(v6 ? AF_INET6 : AF_INET, c.c_str(), want) == 1;
    EXPECT_EQ(ok, libc) << text;
    if (ok && ip.family == 6) {
      EXPECT_EQ(std::memcmp(ip.bytes.data(), want, 16), 0) << text;
    } else if (ok && !v6) {
      EXPECT_EQ(std::memcmp(ip.bytes.data(), want, 4), 0) << text;
    }
  }
}

TEST(Address, MappedIsNormalisedAndFailureClears) {
  IpAddr ip;
  ASSERT_TRUE(parse_ip("::ffff:1.2.3.4", ip));
  EXPECT_EQ(ip, (IpAddr{4, {1, 2, 3, 4}}));
  ASSERT_TRUE(parse_ip("::FFFF:0102:0304", ip));
  EXPECT_EQ(ip, (IpAddr{4, {1, 2, 3, 4}}));
  ASSERT_TRUE(parse_ip("::1.2.3.4", ip)); // IPv4-compatible is not mapped: stays IPv6
  EXPECT_EQ(ip, (IpAddr{6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}}));
  ASSERT_TRUE(parse_ip("::", ip));
  EXPECT_EQ(ip, (IpAddr{6, {}}));
  ASSERT_TRUE(parse_ip("2001:db8::102:304", ip));
  EXPECT_EQ(ip, (IpAddr{6, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}}));
  EXPECT_FALSE(parse_ip("1.2.3.256", ip));
  EXPECT_EQ(ip, IpAddr{});
}

// The one definition of IPv4-mapped IPv6 (record.h), which the parser, the
// formatter, the graph and nettrace's decoder all call.
TEST(Address, OneDefinitionOfMapped) {
  const IpAddr mapped{6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7}};
  const IpAddr v4{4, {192, 0, 2, 7}};
  EXPECT_TRUE(is_v4_mapped(mapped));
  EXPECT_FALSE(is_v4_mapped(v4));
  IpAddr ip = mapped;
  unmap_v4(ip);
  EXPECT_EQ(ip, v4);
  unmap_v4(ip); // idempotent
  EXPECT_EQ(ip, v4);
  for (IpAddr other : {IpAddr{6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 7}}, // compatible
                       IpAddr{6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 192, 0, 2, 7}},
                       IpAddr{6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}, IpAddr{}}) {
    EXPECT_FALSE(is_v4_mapped(other));
    IpAddr same = other;
    unmap_v4(same);
    EXPECT_EQ(same, other);
  }
  // The parser and the formatter agree with it.
  ASSERT_TRUE(parse_ip("::ffff:192.0.2.7", ip));
  EXPECT_EQ(ip, v4);
  std::string text;
  append_ip(text, mapped);
  EXPECT_EQ(text, "192.0.2.7");
}

TEST(Address, Endpoints) {
  Endpoint e;
  ASSERT_TRUE(parse_endpoint("1.2.3.4:80", e));
  EXPECT_EQ(e, (Endpoint{IpAddr{4, {1, 2, 3, 4}}, 80}));
  ASSERT_TRUE(parse_endpoint("1.2.3.4:0080", e));
  EXPECT_EQ(e.port, 80);
  ASSERT_TRUE(parse_endpoint("[::1]:65535", e));
  EXPECT_EQ(e, (Endpoint{IpAddr{6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}, 65535}));
  ASSERT_TRUE(parse_endpoint("[::ffff:10.0.0.1]:5", e));
  EXPECT_EQ(e, (Endpoint{IpAddr{4, {10, 0, 0, 1}}, 5}));
  for (const char* bad : {"1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:-1", "1.2.3.4:+1",
                          "1.2.3.4:80:90", "::1:80", "[::1]80", "[::1]:", "[1.2.3.4]:80", "[::1:80",
                          "1.2.3.4:99999999999999999999", ""})
    EXPECT_FALSE(parse_endpoint(bad, e)) << bad;
}

// Common arrow lines take a one-pass reader; whatever it takes or leaves to
// the general parser, the result is the same (fuzz_trace_line checks any bytes).
TEST(Parse, OnePassArrowReaderAgreesWithTheGeneralParser) {
  using namespace std::string_literals;
  for (const std::string& line :
       {"10.0.0.1:80<-10.0.0.2:40000|PID=1 CMD=a"s, "[::1]:80->[::ffff:1.2.3.4]:9|PID=1 CMD=a b"s,
        "1.2.3.4:80<-1.2.3.4:0080|PID=007 CMD="s, "1.2.3.4:80<-5.6.7.8:9|PID=1 CMD=x\\x41\r"s,
        "1.2.3.4:80->5.6.7.8:9<-1.2.3.4:5|PID=1 CMD=x"s, "1.2.3.4:80<-5.6.7.8:9|PID=1  CMD=x"s,
        "1.2.3.4:80<-5.6.7.8:9 |PID=1 CMD=x"s, "1.2.3.4:80<-5.6.7.8:9|PID=99999999999 CMD=x"s,
        "1.2.3.4\0:80<-5.6.7.8:9|PID=1 CMD=x"s, "[2db8::b\0<-[::1]:80<-[::2]:1|PID=1 CMD=x"s,
        "[::1<-[::2]:1|PID=1 CMD=]"s, "01.2.3.4:80<-5.6.7.8:9|PID=1 CMD=x"s, "\r\r"s, "\r"s,
        "1.2.3.4:65536<-5.6.7.8:9|PID=1 CMD=x"s, "[1.2.3.4]:80<-5.6.7.8:9|PID=1 CMD=x"s}) {
    Record fast, general;
    ParseResult a = parse_line(line, fast), b = parse_line_general(line, general);
    EXPECT_EQ(a.kind, b.kind) << line;
    EXPECT_EQ(a.error, b.error) << line;
    if (a.kind == ParseKind::Record && b.kind == ParseKind::Record) {
      EXPECT_EQ(arrow(fast), arrow(general)) << line;
    }
  }
}

// The one-pass reader reads IPv6 group by group and leaves anything unusual
// to the general reader: both must give the same record (or the same error)
// for every form of IPv6 text, in both places of the line.
TEST(Parse, Ipv6FormsGiveWhatTheGeneralReaderGives) {
  const std::vector<std::string> forms = {"2001:db8::1",
                                          "2001:DB8::A",
                                          "2001:0db8:0000::0001",
                                          "1:2:3:4:5:6:7:8",
                                          "1::",
                                          "::1",
                                          "::",
                                          "1:2:3:4:5:6:7::",
                                          "::2:3:4:5:6:7:8",
                                          "1:2:3:4:5:6:7:8:9",
                                          "1:2:3:4:5:6:7",
                                          "1::2::3",
                                          "1:::2",
                                          "12345::1",
                                          "::ffff:1.2.3.4",
                                          "::ffff:a01:203",
                                          "1:2:3:4:5:6:1.2.3.4",
                                          "2001:db8::g",
                                          ":1::2",
                                          "1:",
                                          "1::2:",
                                          "",
                                          "fe80::1%eth0",
                                          "0:0:0:0:0:0:0:1",
                                          "2001:db8:0:0:1::1"};
  for (const std::string& a : forms) {
    for (const std::string& line : {"[" + a + "]:80<-[2001:db8::2]:40000|PID=1 CMD=c",
                                    "[2001:db8::2]:40000->[" + a + "]:80|PID=1 CMD=s",
                                    "[" + a + "]:80<-[" + a + "]:40000|PID=1 CMD=c"}) {
      Record fast, general;
      ParseResult x = parse_line(line, fast), y = parse_line_general(line, general);
      EXPECT_EQ(x.kind, y.kind) << line;
      EXPECT_EQ(x.error, y.error) << line;
      if (x.kind == ParseKind::Record && y.kind == ParseKind::Record) {
        EXPECT_EQ(fast.local, general.local) << line;
        EXPECT_EQ(fast.remote, general.remote) << line;
      }
    }
  }
}

// The one-pass reader must give what the general parser gives, every time:
// thousands of addresses, read in three passes, with texts that fail to parse
// in between. (It once kept a memo of address texts, which this caught
// overwriting slots; it keeps nothing between lines now, and must go on
// giving the same result on a second and third pass.)
TEST(Parse, RepeatedPassesOverManyAddressesGiveTheGeneralResult) {
  std::vector<std::string> lines;
  for (int i = 0; i < 3000; ++i) {
    const std::string v4 = "10." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ".7";
    const std::string v6 = "2001:db8::" + std::to_string(i);
    lines.push_back(v4 + ":80<-10.0.0.1:" + std::to_string(40000 + i) +
                    "|PID=" + std::to_string(i) + " CMD=c");
    lines.push_back("[" + v6 + "]:443->[::ffff:" + v4 + "]:" + std::to_string(i) + "|PID=1 CMD=s");
    // Same text up to the ':' with a byte changed after the first 16, and
    // texts that only look like addresses.
    lines.push_back(v4 + "0:80<-10.0.0.1:1|PID=1 CMD=x");
    lines.push_back("0" + v4 + ":80<-10.0.0.1:1|PID=1 CMD=x");
    lines.push_back("[" + v6 + ":]:443->10.0.0.1:1|PID=1 CMD=x");
  }
  LineParser parser;
  for (int pass = 0; pass < 3; ++pass) {
    for (const std::string& line : lines) {
      Record fast, general;
      ParseResult a = parser.parse(line, fast), b = parse_line_general(line, general);
      ASSERT_EQ(a.kind, b.kind) << line;
      ASSERT_EQ(a.error, b.error) << line;
      if (a.kind == ParseKind::Record) {
        ASSERT_EQ(fast.local, general.local) << line;
        ASSERT_EQ(fast.remote, general.remote) << line;
        ASSERT_EQ(arrow(fast), arrow(general)) << line;
      }
    }
  }
}

TEST(Parse, ReplaysTheRecordedK3sTrace) {
  std::ifstream in(NT_EXAMPLE_TRACES "/k3s-cluster.trace");
  ASSERT_TRUE(in) << "missing " NT_EXAMPLE_TRACES "/k3s-cluster.trace";
  std::string line;
  int records = 0, skipped = 0, errors = 0, connects = 0, accepts = 0;
  Record r;
  while (std::getline(in, line)) {
    ParseResult res = parse_line(line, r);
    if (res.kind == ParseKind::Record) {
      ++records;
      (r.type == RecordType::Connect ? connects : accepts)++;
      // Formatting the parsed line gives the line back, byte for byte.
      EXPECT_EQ(arrow(r), line + "\n");
    } else if (res.kind == ParseKind::Skip) {
      ++skipped;
    } else {
      ++errors;
      ADD_FAILURE() << line << ": " << res.error;
    }
  }
  EXPECT_EQ(skipped, 2); // the prototype's two banner lines
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(records, 161);
  EXPECT_GT(connects, 0);
  EXPECT_GT(accepts, 0);
}

} // namespace
} // namespace nt
