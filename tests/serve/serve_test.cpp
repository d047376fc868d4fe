// nettrace --serve without the kernel: the bounded map (edges, connections,
// ring, expiry, the overflow counter), the exposition text (exact, and
// through promtool), the request and query parsers, and the HTTP server's
// bounds against real sockets on loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fixtures/records.h"
#include "serve/exposition.h"
#include "serve/http_server.h"
#include "serve/serve_api.h"
#include "serve/serve_state.h"
#include "trace/format.h"
#include "trace/kinds.h"
#include "tracer/cli.h"
#include "tracer/errors.h"
#include "tracer/ring_use.h"
#include "util/unique_fd.h"

namespace nt {
namespace {

using fixtures::rec;
using fixtures::v4;

const IpAddr kA = v4(10, 0, 0, 1), kB = v4(10, 0, 0, 2);

uint64_t count_of(const MetricsSnapshot& s, std::string_view comm, Side dir, uint16_t port,
                  RecordType t) {
  for (const auto& [k, st] : s.edges)
    if (k.comm == comm && k.direction == dir && k.server_port == port)
      return st.by_kind[size_t(t)];
  return UINT64_MAX; // no such edge
}

TEST(ServeState, ConnectAndAcceptCountOnTheirEdgesWithoutPidsOrEphemeralPorts) {
  ServeState s(ServeLimits{});
  std::vector<Record> batch = {
      rec(RecordType::Connect, kA, 40001, kB, 8080, 100, "curl"),
      rec(RecordType::Connect, kA, 40002, kB, 8080, 101, "curl"), // another pid, same edge
      rec(RecordType::Accept, kB, 8080, kA, 40001, 200, "server"),
      rec(RecordType::Failed, kA, 40003, kB, 9, 100, "curl"),
  };
  s.apply(batch, 1000);
  const MetricsSnapshot m = s.metrics(1000);
  ASSERT_EQ(m.edges.size(), 3u);
  EXPECT_EQ(count_of(m, "curl", Side::Out, 8080, RecordType::Connect), 2u);
  EXPECT_EQ(count_of(m, "server", Side::In, 8080, RecordType::Accept), 1u);
  EXPECT_EQ(count_of(m, "curl", Side::Out, 9, RecordType::Failed), 1u);
  // The "in" edge's server is the local end.
  for (const auto& [k, st] : m.edges)
    EXPECT_EQ(k.server_addr, kB);
  EXPECT_EQ(m.health.events[size_t(RecordType::Connect)], 2u);
  EXPECT_EQ(m.health.events[size_t(RecordType::Failed)], 1u);
}

TEST(ServeState, EdgesPastTheCapGoToTheOverflowCounterAndExpiryMakesRoom) {
  ServeLimits l;
  l.max_edges = 2;
  l.expire_ms = 10000;
  ServeState s(l);
  std::vector<Record> batch;
  for (uint16_t port = 1; port <= 5; ++port)
    batch.push_back(rec(RecordType::Connect, kA, 40000, kB, port, 1, "c"));
  batch.push_back(rec(RecordType::Connect, kA, 40000, kB, 1, 1, "c")); // an existing edge
  s.apply(batch, 1000);
  MetricsSnapshot m = s.metrics(1000);
  ASSERT_EQ(m.edges.size(), 2u);
  EXPECT_EQ(count_of(m, "c", Side::Out, 1, RecordType::Connect), 2u);
  EXPECT_EQ(m.health.overflow[size_t(RecordType::Connect)], 3u);
  // Port 2's edge is used again at 6000; port 1's stays idle and goes at 12000.
  std::vector<Record> again = {rec(RecordType::Connect, kA, 40000, kB, 2, 1, "c")};
  s.apply(again, 6000);
  m = s.metrics(12000);
  ASSERT_EQ(m.edges.size(), 1u);
  EXPECT_EQ(count_of(m, "c", Side::Out, 2, RecordType::Connect), 2u);
  EXPECT_EQ(m.health.edges_expired, 1u);
  // Now there is room again.
  std::vector<Record> fresh = {rec(RecordType::Connect, kA, 40000, kB, 7, 1, "c")};
  s.apply(fresh, 12000);
  EXPECT_EQ(count_of(s.metrics(12000), "c", Side::Out, 7, RecordType::Connect), 1u);
}

TEST(ServeState, ConnectionsAndRingAreBoundedOldestFirstAndCounted) {
  ServeLimits l;
  l.max_connections = 3;
  l.ring = 4;
  ServeState s(l);
  std::vector<Record> batch;
  for (uint16_t i = 0; i < 6; ++i)
    batch.push_back(rec(RecordType::Connect, kA, uint16_t(40000 + i), kB, 80, 1, "c", 100 + i));
  batch.push_back(rec(RecordType::Failed, kA, 41000, kB, 81, 1, "c", 200)); // not a connection
  s.apply(batch, 1);
  const std::vector<Record> conns = s.connections(1);
  ASSERT_EQ(conns.size(), 3u);
  EXPECT_EQ(conns[0].local.port, 40003);
  EXPECT_EQ(conns[2].local.port, 40005);
  EventQuery all;
  all.limit = 100;
  const std::vector<Record> ev = s.events(all);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].time_ns, 103u);
  EXPECT_EQ(ev[3].type, RecordType::Failed);
  const MetricsSnapshot m = s.metrics(1);
  EXPECT_EQ(m.health.connections_evicted, 3u);
  EXPECT_EQ(m.health.ring_evicted, 3u);
}

TEST(ServeState, ConnectionsExpireWhenIdle) {
  ServeLimits l;
  l.expire_ms = 5000;
  ServeState s(l);
  std::vector<Record> first = {rec(RecordType::Connect, kA, 40000, kB, 80, 1, "c")};
  std::vector<Record> second = {rec(RecordType::Accept, kB, 80, kA, 40001, 2, "s")};
  s.apply(first, 1000);
  s.apply(second, 4000);
  const std::vector<Record> left = s.connections(7000);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].pid, 2u);
  EXPECT_EQ(s.metrics(7000).health.connections_expired, 1u);
}

TEST(ServeState, EventQueryFilters) {
  ServeState s(ServeLimits{});
  std::vector<Record> batch = {
      rec(RecordType::Connect, kA, 40000, kB, 80, 7, "curl", 10),
      rec(RecordType::Accept, kB, 80, kA, 40000, 8, "nginx", 20),
      rec(RecordType::Connect, kA, 40001, kB, 80, 7, "curl", 30),
      rec(RecordType::Connect, kA, 40002, kB, 80, 9, "wget", 40),
  };
  Record lost;
  lost.type = RecordType::Lost;
  lost.lost = 5;
  lost.time_ns = 50;
  batch.push_back(lost);
  s.apply(batch, 1);
  auto times = [&](std::string_view query) {
    EventQuery q;
    EXPECT_EQ(parse_event_query(query, 1000, q), "");
    std::string out;
    for (const Record& r : s.events(q))
      out += std::to_string(r.time_ns) + " ";
    return out;
  };
  EXPECT_EQ(times(""), "10 20 30 40 50 ");
  EXPECT_EQ(times("pid=7"), "10 30 ");
  EXPECT_EQ(times("comm=wget"), "40 ");
  EXPECT_EQ(times("type=accept"), "20 ");
  EXPECT_EQ(times("type=lost"), "50 ");
  EXPECT_EQ(times("since=20"), "30 40 50 ");
  EXPECT_EQ(times("since=10&limit=2"), "20 30 ");
  EXPECT_EQ(times("pid=7&type=connect&since=10"), "30 ");
  EXPECT_EQ(s.metrics(1).health.lost_events, 5u);
}

TEST(ServeApi, BadQueriesGetOneLineReasons) {
  EventQuery q;
  EXPECT_EQ(parse_event_query("pid=abc", 1000, q),
            "pid must be a process id from 1 to 4294967295, got 'abc'");
  EXPECT_EQ(parse_event_query("limit=0", 1000, q),
            "limit must be a whole number from 1 to 1000, got '0'");
  EXPECT_EQ(parse_event_query("limit=1001", 1000, q),
            "limit must be a whole number from 1 to 1000, got '1001'");
  EXPECT_EQ(parse_event_query("type=bogus", 1000, q),
            "type must be one of connect, accept, failed, lost, close, open, evicted, existing, "
            "snapshot, nat, got 'bogus'");
  EXPECT_EQ(parse_event_query("since=-1", 1000, q),
            "since must be a ts_ns value (a whole number of nanoseconds), got '-1'");
  EXPECT_EQ(parse_event_query("colour=red", 1000, q),
            "unknown parameter 'colour' (use since, pid, comm, type, limit)");
  EXPECT_EQ(parse_event_query("pid=1&pid=2", 1000, q), "parameter 'pid' given twice");
  EXPECT_EQ(parse_event_query("comm=%zz", 1000, q), "bad %-escape in the query");
  EXPECT_EQ(parse_event_query("comm=%4", 1000, q), "bad %-escape in the query");
  // What a client sent is repeated printable and on one line (found by
  // fuzz_http_request: a decoded newline broke the reason in two).
  EXPECT_EQ(parse_event_query("pid=1%0a2", 1000, q),
            "pid must be a process id from 1 to 4294967295, got '1\\x0a2'");
  EXPECT_EQ(parse_event_query("a%0Ab%ff=1", 1000, q),
            "unknown parameter 'a\\x0ab\\xff' (use since, pid, comm, type, limit)");
  EXPECT_EQ(parse_event_query("limit=" + std::string(100, '9'), 1000, q),
            "limit must be a whole number from 1 to 1000, got '" + std::string(64, '9') + "...'");
  EXPECT_EQ(parse_event_query("comm=a%20b", 1000, q), "");
  EXPECT_EQ(q.comm, "a b");

  ServeState s(ServeLimits{});
  auto get = [&](std::string path, std::string query) {
    return handle_request(s, HttpRequest{"GET", std::move(path), std::move(query)}, 1);
  };
  EXPECT_EQ(get("/api/events", "pid=x").status, 400);
  EXPECT_EQ(get("/api/graph", "format=png").body, "format must be dot, json or svg, got 'png'\n");
  EXPECT_EQ(get("/metrics", "x=1").status, 400);
  EXPECT_EQ(get("/nope", "").status, 404);
  EXPECT_EQ(get("/healthz", "").body, "ok\n");
}

TEST(ServeApi, EventsAreTheSameTextAsFormatJson) {
  ServeState s(ServeLimits{});
  std::vector<Record> batch = {rec(RecordType::Connect, kA, 40000, kB, 80, 7, "a\\b\"c", 10),
                               rec(RecordType::Accept, kB, 80, kA, 40000, 8, "srv", 20)};
  s.apply(batch, 1);
  std::string want;
  for (const Record& r : batch)
    append_json(want, r);
  const HttpResponse r = handle_request(s, HttpRequest{"GET", "/api/events", ""}, 1);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, want);
  EXPECT_EQ(handle_request(s, HttpRequest{"GET", "/api/connections", ""}, 1).body, want);
}

TEST(ServeApi, ConnectionsAreTheOnesOpenNow) {
  // A close takes its connection (both ends: same 4-tuple and netns seen
  // from each side) off /api/connections; the other stays.
  ServeState s(ServeLimits{});
  Record gone = rec(RecordType::Connect, kA, 40000, kB, 80, 7, "a", 10);
  Record stays = rec(RecordType::Connect, kA, 40001, kB, 80, 7, "a", 11);
  Record close = gone;
  close.type = RecordType::Close;
  close.side = Side::Out;
  std::vector<Record> batch = {gone, stays, close};
  s.apply(batch, 1);
  std::string want;
  append_json(want, stays);
  EXPECT_EQ(handle_request(s, HttpRequest{"GET", "/api/connections", ""}, 1).body, want);
}

TEST(Exposition, EdgeCountersCoverEveryConnectionKind) {
  // A kind that carries a connection end must count on some per-edge counter
  // (or be listed here on purpose): a new kind in kinds.cpp fails this until
  // exposition.cpp says where it goes.
  for (const KindInfo& k : kinds()) {
    // open: written once when nettrace ends, after the last scrape.
    if (!k.connection || k.type == RecordType::Open)
      continue;
    bool found = false;
    for (const EdgeCounter& c : edge_counters())
      for (RecordType t : c.kinds)
        found = found || t == k.type;
    EXPECT_TRUE(found) << "kind '" << k.name << "' has no per-edge counter in exposition.cpp";
  }
}

MetricsSnapshot small_snapshot() {
  ServeState s(ServeLimits{});
  std::vector<Record> batch = {
      rec(RecordType::Connect, kA, 40001, kB, 8080, 100, "cu\"r\\l"),
      rec(RecordType::Accept, kB, 8080, kA, 40001, 200, "server"),
      rec(RecordType::Failed, kA, 40003, kB, 9, 100, "cu\"r\\l"),
  };
  Record close = batch[0]; // the connect ends: promtool sees every close series filled
  close.type = RecordType::Close;
  close.side = Side::Out;
  close.bytes_sent = 1048576;
  close.bytes_received = 10240;
  close.duration_ns = 2500000; // 2.5 ms
  batch.push_back(close);
  s.apply(batch, 1);
  return s.metrics(1);
}

TEST(Exposition, ClosesGiveBytesTheOpenGaugeAndDurations) {
  const std::string text = exposition(small_snapshot());
  const std::string client =
      "{comm=\"cu\\\"r\\\\\\\\l\",direction=\"out\",server_addr=\"10.0.0.2\","
      "server_port=\"8080\"";
  for (const std::string& line :
       {"nettrace_bytes_total" + client + ",way=\"received\"} 10240\n",
        "nettrace_bytes_total" + client + ",way=\"sent\"} 1048576\n",
        "nettrace_open_connections" + client + "} 0\n",
        // the accept's edge: its close has not come
        std::string(
            "nettrace_open_connections{comm=\"server\",direction=\"in\",server_addr=\"10.0.0."
            "2\",server_port=\"8080\"} 1\n"),
        "nettrace_connection_duration_seconds_bucket" + client + ",le=\"0.001\"} 0\n",
        "nettrace_connection_duration_seconds_bucket" + client + ",le=\"0.01\"} 1\n",
        "nettrace_connection_duration_seconds_bucket" + client + ",le=\"+Inf\"} 1\n",
        "nettrace_connection_duration_seconds_sum" + client + "} 0.0025\n",
        "nettrace_connection_duration_seconds_count" + client + "} 1\n",
        "nettrace_closed_connections_total" + client + "} 1\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
}

TEST(Exposition, ExactText) {
  const std::string text = exposition(small_snapshot());
  // The per-edge part, exactly: escaped labels (the comm is escaped as the
  // lines write it, then for the label), no pid, no client port.
  const std::string want_edges =
      "# HELP nettrace_connections_total Connections per edge: connects out (direction=out) and "
      "accepts in (direction=in).\n"
      "# TYPE nettrace_connections_total counter\n"
      "nettrace_connections_total{comm=\"cu\\\"r\\\\\\\\l\",direction=\"out\",server_addr=\"10.0."
      "0.2\",server_port=\"9\"} 0\n"
      "nettrace_connections_total{comm=\"cu\\\"r\\\\\\\\l\",direction=\"out\",server_addr=\"10.0."
      "0.2\",server_port=\"8080\"} 1\n"
      "nettrace_connections_total{comm=\"server\",direction=\"in\",server_addr=\"10.0.0.2\","
      "server_port=\"8080\"} 1\n"
      "# HELP nettrace_failed_connects_total Connects that failed, per edge.\n"
      "# TYPE nettrace_failed_connects_total counter\n"
      "nettrace_failed_connects_total{comm=\"cu\\\"r\\\\\\\\l\",direction=\"out\",server_addr="
      "\"10.0.0.2\",server_port=\"9\"} 1\n"
      "nettrace_failed_connects_total{comm=\"cu\\\"r\\\\\\\\l\",direction=\"out\",server_addr="
      "\"10.0.0.2\",server_port=\"8080\"} 0\n";
  EXPECT_EQ(text.substr(0, want_edges.size()), want_edges);
  EXPECT_NE(text.find("\nnettrace_events_total{kind=\"connect\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("\nnettrace_edge_overflow_total{kind=\"failed\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("\nnettrace_lost_events_total 0\n"), std::string::npos);
  // Unknown (after --user): no series rather than a made-up 0.
  EXPECT_EQ(text.find("nettrace_skipped_hook_runs_total"), std::string::npos);
  EXPECT_EQ(text.find("nettrace_ringbuf_used_bytes"), std::string::npos);
}

TEST(Exposition, RingBufferUseWhenKnown) {
  ServeState s(ServeLimits{});
  TracerHealth t;
  t.ringbuf_bytes = 65536;
  t.ring_use_known = true;
  t.ring_used = 48;
  t.ring_peak = 4096;
  s.set_tracer_health(t);
  const std::string text = exposition(s.metrics(1));
  EXPECT_NE(text.find("\nnettrace_ringbuf_size_bytes 65536\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nnettrace_ringbuf_used_bytes 48\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nnettrace_ringbuf_peak_used_bytes 4096\n"), std::string::npos) << text;
  // A producer position read behind the consumer's (a torn read) is empty,
  // not a wrapped-around 2^64 - n.
  EXPECT_EQ(RingUse::waiting(4096, 4096), 0u);
  EXPECT_EQ(RingUse::waiting(8192, 4096), 4096u);
  EXPECT_EQ(RingUse::waiting(100, 200), 0u);
}

TEST(Exposition, ExistingConnectionsCountApartOnTheirOwnDirection) {
  // The snapshot's records (one kind for both ends) make the same edges as
  // a connect and an accept would, on a counter of their own.
  ServeState s(ServeLimits{});
  Record out = rec(RecordType::Existing, kA, 40001, kB, 5432, 100, "app");
  out.side = Side::Out;
  Record in = rec(RecordType::Existing, kB, 5432, kA, 40001, 200, "postgres");
  in.side = Side::In;
  std::vector<Record> batch = {out, in};
  s.apply(batch, 1);
  const std::string text = exposition(s.metrics(1));
  EXPECT_NE(text.find("nettrace_existing_connections_total{comm=\"app\",direction=\"out\","
                      "server_addr=\"10.0.0.2\",server_port=\"5432\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("nettrace_existing_connections_total{comm=\"postgres\",direction=\"in\","
                      "server_addr=\"10.0.0.2\",server_port=\"5432\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("nettrace_connections_total{comm=\"app\",direction=\"out\",server_addr="
                      "\"10.0.0.2\",server_port=\"5432\"} 0\n"),
            std::string::npos)
      << text;
}

// nettrace --nat: a connect to a Service counts on the backend that served it,
// labelled with the Service (via), and so does that backend's accept (its
// nat_local: what the client asked for); its close lands on the same edge.
// Untranslated edges keep their label sets.
TEST(Exposition, TranslatedEdgesCountOnTheBackendWithVia) {
  ServeState s(ServeLimits{});
  const IpAddr client = v4(10, 42, 0, 5), service = v4(10, 43, 0, 10), pod = v4(10, 42, 0, 3);
  Record out = rec(RecordType::Connect, client, 50392, service, 80, 100, "app");
  out.nat_remote = {pod, 8080};
  Record close = out;
  close.type = RecordType::Close;
  close.side = Side::Out;
  close.bytes_sent = 7;
  Record in = rec(RecordType::Accept, pod, 8080, client, 50392, 200, "nginx");
  in.nat_local = {service, 80};
  Record plain = rec(RecordType::Connect, client, 50400, pod, 8080, 100, "app");
  std::vector<Record> batch = {out, in, close, plain};
  s.apply(batch, 1);
  const std::string text = exposition(s.metrics(1));
  for (const char* want :
       {"nettrace_connections_total{comm=\"app\",direction=\"out\",server_addr=\"10.42.0.3\","
        "server_port=\"8080\",via=\"10.43.0.10:80\"} 1\n",
        "nettrace_connections_total{comm=\"nginx\",direction=\"in\",server_addr=\"10.42.0.3\","
        "server_port=\"8080\",via=\"10.43.0.10:80\"} 1\n",
        "nettrace_closed_connections_total{comm=\"app\",direction=\"out\",server_addr="
        "\"10.42.0.3\",server_port=\"8080\",via=\"10.43.0.10:80\"} 1\n",
        "nettrace_connections_total{comm=\"app\",direction=\"out\",server_addr=\"10.42.0.3\","
        "server_port=\"8080\"} 1\n"})
    EXPECT_NE(text.find(want), std::string::npos) << want << "\n" << text;
  EXPECT_EQ(text.find("server_addr=\"10.43.0.10\""), std::string::npos) << text;
}

TEST(Exposition, PassesPromtool) {
  if (access("/usr/bin/promtool", X_OK) != 0) {
    if (const char* ci = std::getenv("CI"); ci && std::string(ci) == "true")
      FAIL() << "promtool missing under CI (tools/install-deps.sh installs prometheus)";
    GTEST_SKIP() << "promtool not installed (tools/install-deps.sh installs prometheus)";
  }
  MetricsSnapshot s = small_snapshot();
  s.health.missed_known = true;
  s.health.missed = 3;
  std::string text = exposition(s);
  append_scrape_duration(text, 0.000123);
  char path[] = "/tmp/nt-expo.XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, text.data(), text.size()), ssize_t(text.size()));
  close(fd);
  const std::string cmd = std::string("promtool check metrics < ") + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string said;
  char buf[512];
  while (size_t n = fread(buf, 1, sizeof buf, p))
    said.append(buf, n);
  const int rc = pclose(p);
  unlink(path);
  EXPECT_EQ(rc, 0) << said << "\n" << text;
  EXPECT_EQ(said, "");
}

TEST(Http, ListenAddr) {
  ListenAddr a;
  EXPECT_EQ(parse_listen_addr("9000", a), "");
  EXPECT_EQ(a.addr, "127.0.0.1");
  EXPECT_EQ(a.port, 9000);
  EXPECT_EQ(parse_listen_addr(":9001", a), "");
  EXPECT_EQ(a.addr, "127.0.0.1");
  EXPECT_EQ(parse_listen_addr("0.0.0.0:80", a), "");
  EXPECT_EQ(a.addr, "0.0.0.0");
  EXPECT_EQ(parse_listen_addr("[::1]:9477", a), "");
  EXPECT_EQ(a.family, 6);
  EXPECT_EQ(a.addr, "::1");
  EXPECT_EQ(parse_listen_addr("::1:9477", a), "an IPv6 address goes in brackets: [::1]:9477");
  EXPECT_EQ(parse_listen_addr("localhost:9477", a), "'localhost' is not a numeric IPv4 address");
  EXPECT_EQ(parse_listen_addr("1.2.3.4:0", a), "the port must be a whole number from 1 to 65535");
  EXPECT_EQ(parse_listen_addr("70000", a), "the port must be a whole number from 1 to 65535");
}

TEST(Http, RequestHead) {
  HttpRequest r;
  std::string why;
  EXPECT_EQ(parse_request_head("GET /api/events?pid=1 HTTP/1.1\r\nHost: x", r, why), 0);
  EXPECT_EQ(r.path, "/api/events");
  EXPECT_EQ(r.query, "pid=1");
  EXPECT_EQ(parse_request_head("POST /metrics HTTP/1.1\r\nContent-Length: 5", r, why), 413);
  EXPECT_EQ(parse_request_head("POST /metrics HTTP/1.1", r, why), 405);
  EXPECT_EQ(parse_request_head("GET /metrics HTTP/2.0", r, why), 505);
  EXPECT_EQ(parse_request_head("GET  /metrics HTTP/1.1", r, why), 400);
  EXPECT_EQ(parse_request_head("GET metrics HTTP/1.1", r, why), 400);
  EXPECT_EQ(parse_request_head("GET /api/events?x=a\nb HTTP/1.1", r, why), 400);
  EXPECT_EQ(why, "the target holds a control, space or non-ASCII byte (percent-encode it)");
  EXPECT_EQ(parse_request_head("GET /\xff HTTP/1.1", r, why), 400);
  EXPECT_EQ(parse_request_head("GET /metrics HTTP/1.1\r\nno colon", r, why), 400);
  EXPECT_EQ(why, "malformed header line");
}

// A blocking client socket to the test server.
UniqueFd dial(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    return UniqueFd();
  timeval tv{10, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
    out.append(buf, size_t(n));
  return out;
}

std::string get(uint16_t port, const std::string& request) {
  UniqueFd fd = dial(port);
  if (!fd)
    return "connect failed";
  ::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL);
  return read_all(fd.get());
}

std::string status_line(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

struct TestServer {
  HttpCounters counted;
  std::mutex mu;
  std::unique_ptr<HttpServer> server;
  explicit TestServer(HttpLimits l) {
    ListenAddr a;
    a.port = 0; // any free port
    server = std::make_unique<HttpServer>(a, l);
    server->start(
        [](const HttpRequest& r) {
          return HttpResponse{200, "text/plain", "path " + r.path + "\n"};
        },
        [this](const HttpCounters& c) {
          std::lock_guard lock(mu);
          counted.refused += c.refused;
          counted.timeouts += c.timeouts;
          counted.bad += c.bad;
        });
  }
  HttpCounters counters() {
    std::lock_guard lock(mu);
    return counted;
  }
};

TEST(Http, AnswersAndRefusesWhatIsTooBig) {
  HttpLimits l;
  l.max_request_bytes = 1024;
  TestServer t(l);
  const uint16_t port = t.server->port();
  const std::string ok = get(port, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_EQ(status_line(ok), "HTTP/1.1 200 OK");
  EXPECT_NE(ok.find("\r\n\r\npath /x\n"), std::string::npos);
  const std::string huge = get(port, "GET /" + std::string(5000, 'a') + " HTTP/1.1\r\n\r\n");
  EXPECT_EQ(status_line(huge), "HTTP/1.1 431 Request Header Fields Too Large");
  EXPECT_EQ(status_line(get(port, "PUT /x HTTP/1.1\r\n\r\n")), "HTTP/1.1 405 Method Not Allowed");
}

TEST(Http, SlowClientsAreCutAtTheDeadlineAndOthersAreStillServed) {
  HttpLimits l;
  l.request_timeout_ms = 800;
  l.max_clients = 4;
  TestServer t(l);
  const uint16_t port = t.server->port();
  // Six slowloris clients for four places, one byte every 100 ms: each byte
  // arrives well within any per-read timeout, but no request ever completes.
  std::vector<UniqueFd> slow;
  for (int i = 0; i < 6; ++i) {
    slow.push_back(dial(port));
    ::send(slow.back().get(), "G", 1, MSG_NOSIGNAL);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // A good client is answered at once all the same: the longest waiting
  // slow client makes room.
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(status_line(get(port, "GET /fine HTTP/1.1\r\n\r\n")), "HTTP/1.1 200 OK");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 0.5);
  // The first three were cut for room (the 5th, 6th and the good client came).
  EXPECT_EQ(status_line(read_all(slow[0].get())), "HTTP/1.1 408 Request Timeout");
  for (int i = 0; i < 20; ++i) {
    for (auto& s : slow)
      ::send(s.get(), "E", 1, MSG_NOSIGNAL); // fails once cut: that is the point
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // Two seconds on, past the 800 ms deadline, every slow client is cut with
  // a 408, however steadily it dripped.
  for (size_t i = 3; i < slow.size(); ++i)
    EXPECT_EQ(status_line(read_all(slow[i].get())), "HTTP/1.1 408 Request Timeout") << i;
  EXPECT_EQ(status_line(get(port, "GET /again HTTP/1.1\r\n\r\n")), "HTTP/1.1 200 OK");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(t.counters().refused, 3u);
  EXPECT_EQ(t.counters().timeouts, 3u);
}

TEST(Http, PortInUseIsExitCodeSix) {
  TestServer t(HttpLimits{});
  ListenAddr a;
  a.port = t.server->port();
  try {
    HttpServer second(a, HttpLimits{});
    FAIL() << "bound a port in use";
  } catch (const TracerError& e) {
    EXPECT_EQ(e.exit_code(), kExitServe);
    EXPECT_NE(std::string(e.what()).find("Address already in use"), std::string::npos) << e.what();
  }
}

} // namespace
} // namespace nt

namespace nt {
namespace {

int parse(std::vector<const char*> args, NettraceConfig& c, std::string& err) {
  args.insert(args.begin(), "nettrace");
  std::ostringstream out, e;
  const auto code = parse_cli(int(args.size()), args.data(), c, out, e);
  err = e.str();
  return code ? *code : -1;
}

TEST(ServeCli, ServeOptions) {
  NettraceConfig c;
  std::string err;
  EXPECT_EQ(parse({"--serve"}, c, err), -1) << err;
  EXPECT_TRUE(c.serve.enabled);
  EXPECT_EQ(c.serve.addr.addr, "127.0.0.1");
  EXPECT_EQ(c.serve.addr.port, kDefaultServePort);
  NettraceConfig d;
  EXPECT_EQ(
      parse({"--serve", "[::]:9100", "--serve-expire", "30", "--serve-max-edges", "5"}, d, err), -1)
      << err;
  EXPECT_EQ(d.serve.addr.family, 6);
  EXPECT_EQ(d.serve.addr.port, 9100);
  EXPECT_EQ(d.serve.limits.expire_ms, 30000u);
  EXPECT_EQ(d.serve.limits.max_edges, 5u);
  NettraceConfig off;
  EXPECT_EQ(parse({}, off, err), -1);
  EXPECT_FALSE(off.serve.enabled);
}

TEST(ServeCli, BadServeOptionsAreOneLineAndExitOne) {
  NettraceConfig c;
  std::string err;
  EXPECT_EQ(parse({"--serve", "localhost:80"}, c, err), kExitUsage);
  EXPECT_EQ(err, "nettrace: --serve: expected [ADDR:]PORT, got 'localhost:80' ('localhost' is not "
                 "a numeric IPv4 address)\n");
  NettraceConfig d;
  EXPECT_EQ(parse({"--serve-lines"}, d, err), kExitUsage);
  EXPECT_EQ(err, "nettrace: --serve-lines, --serve-expire, --serve-max-edges, --serve-ring and "
                 "--serve-max-clients need --serve\n");
  NettraceConfig e;
  EXPECT_EQ(parse({"--serve", "9000", "-n", "3"}, e, err), kExitUsage);
  EXPECT_EQ(err, "nettrace: --count counts the lines on stdout, which --serve turns off: add "
                 "--serve-lines, or end the run with --duration\n");
}

} // namespace
} // namespace nt
