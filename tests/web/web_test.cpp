// The live page's server side without a kernel or a browser: the view JSON
// (names, identity, details, bytes, escaping), the one label function, the
// page's routes and headers, and the HTTP server's event streams and their
// bounds against real sockets on loopback.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "fixtures/records.h"
#include "serve/http_server.h"
#include "serve/serve_api.h"
#include "serve/serve_state.h"
#include "util/unique_fd.h"
#include "web/view.h"
#include "web/web.h"

namespace nt {
namespace {

using Json = nlohmann::json;

using fixtures::rec;
using fixtures::v4;

const IpAddr kA = v4(10, 0, 0, 1), kB = v4(10, 0, 0, 2), kOut = v4(192, 0, 2, 9);
constexpr uint64_t kT0 = 1795000000000000000ull;

const Json* node_named(const Json& v, std::string_view label) {
  for (const Json& n : v["nodes"])
    if (n["label"] == label)
      return &n;
  return nullptr;
}

TEST(View, NodesEdgesBytesAndDetailsOfOneHost) {
  ViewOptions o;
  o.source = "test";
  o.closes_known = true;
  o.now_ns = kT0 + 5'000'000'000;
  ViewBuilder b(o);
  // curl (pid 10) connects to nginx (pid 20) twice; the first closes with bytes.
  b.add(rec(RecordType::Connect, kA, 40000, kB, 443, 10, "curl", kT0), "h");
  b.add(rec(RecordType::Accept, kB, 443, kA, 40000, 20, "nginx", kT0), "h");
  Record close = rec(RecordType::Close, kA, 40000, kB, 443, 10, "curl", kT0 + 1'000'000'000);
  close.side = Side::Out;
  close.bytes_sent = 120;
  close.bytes_received = 4500;
  close.duration_ns = 1'000'000'000;
  b.add(close, "h");
  b.add(rec(RecordType::Connect, kA, 40001, kB, 443, 10, "curl", kT0 + 2'000'000'000), "h");
  b.add(rec(RecordType::Accept, kB, 443, kA, 40001, 20, "nginx", kT0 + 2'000'000'000), "h");
  // And to a peer outside the trace.
  b.add(rec(RecordType::Connect, kA, 40002, kOut, 53, 10, "curl", kT0 + 3'000'000'000), "h");
  const Json v = Json::parse(b.finish());
  EXPECT_EQ(v["source"], "test");
  EXPECT_EQ(v["hosts"], Json::array({"h"}));
  EXPECT_EQ(v["now_ns"], o.now_ns);
  EXPECT_EQ(v["lost"], 0);
  const Json* curl = node_named(v, "curl");
  const Json* nginx = node_named(v, "nginx");
  const Json* out = node_named(v, "192.0.2.9");
  ASSERT_TRUE(curl && nginx && out) << v.dump(1);
  EXPECT_EQ((*curl)["kind"], "process");
  EXPECT_EQ((*curl)["pid"], 10);
  EXPECT_EQ((*curl)["sublabel"], "pid 10");
  EXPECT_EQ((*curl)["host"], "h");
  EXPECT_EQ((*out)["kind"], "outside");
  EXPECT_EQ((*out)["sublabel"], "not traced");
  // Identity fields are absent when unknown (the page shows what is there).
  EXPECT_FALSE(curl->contains("exe"));
  EXPECT_FALSE(curl->contains("container"));
  // curl's connections, newest first, with bytes and state.
  const Json& cs = (*curl)["connections"];
  ASSERT_EQ(cs.size(), 3u);
  EXPECT_EQ(cs[0]["remote"], "192.0.2.9:53");
  EXPECT_EQ(cs[0]["open"], true);
  EXPECT_EQ(cs[2]["local"], "10.0.0.1:40000");
  EXPECT_EQ(cs[2]["direction"], "out");
  EXPECT_EQ(cs[2]["closed"], true);
  EXPECT_EQ(cs[2]["bytes_sent"], 120);
  EXPECT_EQ(cs[2]["bytes_received"], 4500);
  EXPECT_EQ(cs[2]["ts_ns"], kT0);
  EXPECT_EQ((*nginx)["connections"][0]["direction"], "in");
  // Edges: curl -> nginx :443 twice (one closed, so one open), curl -> outside :53.
  ASSERT_EQ(v["edges"].size(), 2u);
  const Json& e = v["edges"][0];
  EXPECT_EQ(e["from"], (*curl)["id"]);
  EXPECT_EQ(e["to"], (*nginx)["id"]);
  EXPECT_EQ(e["port"], 443);
  EXPECT_EQ(e["count"], 2);
  EXPECT_EQ(e["open"], 1);
  EXPECT_EQ(e["bytes_to_server"], 120);
  EXPECT_EQ(e["bytes_to_client"], 4500);
  EXPECT_EQ(v["edges"][1]["matched"], false);
  EXPECT_EQ(v["edges"][1]["to"], (*out)["id"]);
}

TEST(View, IdentityFieldsReachTheNodeAndTheLabel) {
  ViewBuilder b(ViewOptions{});
  Identity id;
  id.pid = 30;
  id.comm = "kube-controller";
  id.exe = "/usr/local/bin/kube-controller-manager";
  id.cmdline = "kube-controller-manager --leader-elect";
  id.pod = "kube-system/kcm-0";
  id.container = "3f2a";
  id.ppid = 1;
  id.start_ns = 42;
  b.add(rec(RecordType::Connect, kA, 40000, kB, 6443, 30, "kube-controller", kT0), "h", id);
  const Json v = Json::parse(b.finish());
  const Json* n = node_named(v, "kube-controller-manager");
  ASSERT_TRUE(n) << v.dump(1);
  EXPECT_EQ((*n)["sublabel"], "pid 30 \u00b7 pod kube-system/kcm-0");
  EXPECT_EQ((*n)["exe"], id.exe);
  EXPECT_EQ((*n)["cmdline"], id.cmdline);
  EXPECT_EQ((*n)["container"], "3f2a");
  EXPECT_EQ((*n)["pod"], id.pod);
  EXPECT_EQ((*n)["ppid"], 1);
  EXPECT_EQ((*n)["start_ns"], 42);
  EXPECT_EQ((*n)["comm"], "kube-controller");
}

TEST(View, ARecordsIdentityIsReadWholeAndEscaped) {
  // What nettrace's identity cache put on the record (issue 13) is what the
  // page gets, with the raw bytes of /proc escaped as comm is.
  Record r = rec(RecordType::Connect, kA, 40000, kB, 6443, 30, "kube-controller", kT0);
  r.ppid = 1;
  r.start_ns = 42;
  r.exe = "/usr/local/bin/kube-controller-manager";
  r.cmdline = "kcm --name=a\nb<i>";
  r.container = "3f2a";
  r.pod = "0d3c-uid";
  r.unit = "kcm.service";
  const Identity id = identity_of(r);
  EXPECT_EQ(id.pid, 30u);
  EXPECT_EQ(id.ppid, 1u);
  EXPECT_EQ(id.start_ns, 42u);
  EXPECT_EQ(id.exe, r.exe);
  EXPECT_EQ(id.container, "3f2a");
  EXPECT_EQ(id.pod, "0d3c-uid");
  EXPECT_EQ(id.unit, "kcm.service");
  EXPECT_EQ(id.cmdline.find('\n'), std::string::npos) << id.cmdline;
  EXPECT_EQ(id.cmdline.substr(0, 12), "kcm --name=a");
  ViewBuilder b(ViewOptions{});
  b.add(r, "h", id);
  const Json v = Json::parse(b.finish());
  const Json* n = node_named(v, "kube-controller-manager");
  ASSERT_TRUE(n) << v.dump(1);
  EXPECT_EQ((*n)["sublabel"], "pid 30 \u00b7 pod 0d3c-uid");
}

TEST(View, LabelPrefersTheExecutableOnlyWhereCommWasCut) {
  Node n;
  n.name = "python3";
  n.pid = 7;
  Identity id;
  id.exe = "/usr/bin/python3.11"; // comm was not cut (under 15 bytes): it is the name
  EXPECT_EQ(node_label(n, id).label, "python3");
  n.name = "kube-controller"; // 15 bytes: cut by the kernel, the executable says the rest
  id.exe = "/usr/bin/kube-controller-manager";
  EXPECT_EQ(node_label(n, id).label, "kube-controller-manager");
  id.exe = "/usr/bin/bash"; // a process that renamed itself: the name it chose is shown
  EXPECT_EQ(node_label(n, id).label, "kube-controller");
  n.name = "python3";
  id = {};
  id.unit = "nginx.service";
  EXPECT_EQ(node_label(n, id).sublabel, "pid 7 \u00b7 nginx.service");
  id.container = "c0ffee";
  EXPECT_EQ(node_label(n, id).sublabel, "pid 7 \u00b7 container c0ffee");
  Node group;
  group.name = "curl";
  group.pids = {1, 2, 3};
  EXPECT_EQ(node_label(group, {}).sublabel, "3 processes");
}

TEST(View, HostileNamesStayTextAndTheDocumentStaysAscii) {
  ViewBuilder b(ViewOptions{});
  const std::string evil = "<img src=x onerror=alert(1)>\n\"\\\xff";
  b.add(rec(RecordType::Connect, kA, 40000, kB, 80, 10, evil, kT0), "h");
  b.add(rec(RecordType::Accept, kB, 80, kA, 40000, 20, "</script><b>x", kT0), "h");
  const std::string text = b.finish();
  for (unsigned char c : text)
    ASSERT_TRUE(c >= 0x20 && c < 0x7f) << int(c);
  const Json v = Json::parse(text);
  // The name as nettrace's lines write it (escaped bytes), never raw bytes.
  EXPECT_TRUE(node_named(v, "<img src=x onerror=alert(1)>\\x0a\"\\\\\\xff")) << v.dump(1);
  EXPECT_TRUE(node_named(v, "</script><b>x"));
}

TEST(View, LostEventsAndTheServedRing) {
  ServeLimits limits;
  ServeState state(limits);
  const uint64_t g0 = state.generation();
  std::vector<Record> batch = {rec(RecordType::Connect, kA, 40000, kB, 443, 10, "curl", kT0)};
  state.apply(batch, 1);
  EXPECT_GT(state.generation(), g0);
  EXPECT_EQ(state.lost_events(), 0u);
  Record lost;
  lost.type = RecordType::Lost;
  lost.lost = 7;
  state.apply(std::vector<Record>{lost}, 2);
  EXPECT_EQ(state.lost_events(), 7u);
  const Json v = Json::parse(serve_view(state));
  EXPECT_EQ(v["lost"], 7);
  EXPECT_EQ(v["live"], true);
  EXPECT_EQ(v["source"], "nettrace --serve");
  ASSERT_EQ(v["nodes"].size(), 2u);
  EXPECT_EQ(v["nodes"][0]["label"], "curl");
  EXPECT_EQ(v["edges"][0]["open"], 1);
}

TEST(Web, RoutesServeThePageWithItsPolicy) {
  auto view = [] { return std::string("{\"v\":1}"); };
  HttpRequest req;
  req.method = "GET";
  req.path = "/";
  auto r = web_route(req, view);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->content_type, "text/html; charset=utf-8");
  EXPECT_NE(r->body.find("<script src=\"/app.js\""), std::string::npos);
  const std::string head = serialize_response(*r);
  EXPECT_NE(head.find("\r\nContent-Security-Policy: default-src 'none'; script-src 'self';"),
            std::string::npos);
  EXPECT_NE(head.find("\r\nX-Content-Type-Options: nosniff\r\n"), std::string::npos);
  req.path = "/app.js";
  r = web_route(req, view);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->content_type, "text/javascript; charset=utf-8");
  // The page writes names as text only.
  EXPECT_EQ(r->body.find("innerHTML"), std::string::npos);
  EXPECT_EQ(r->body.find("insertAdjacentHTML"), std::string::npos);
  req.path = "/api/view";
  r = web_route(req, view);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "{\"v\":1}");
  req.path = "/api/view/stream";
  r = web_route(req, view);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->stream);
  EXPECT_EQ(r->body, "retry: 2000\n\nevent: view\ndata: {\"v\":1}\n\n");
  req.query = "x=1";
  EXPECT_EQ(web_route(req, view)->status, 400);
  req.query.clear();
  req.path = "/metrics";
  EXPECT_FALSE(web_route(req, view));
}

TEST(Web, EventsSplitLinesAndTheFeedSendsOnlyChanges) {
  EXPECT_EQ(sse_event("view", "a\nb"), "event: view\ndata: a\ndata: b\n\n");
  uint64_t gen = 1;
  int made = 0;
  ViewFeed feed([&] { return gen; },
                [&] {
                  ++made;
                  return std::string("{}");
                });
  EXPECT_EQ(feed(), "event: view\ndata: {}\n\n");
  EXPECT_EQ(feed(), "");
  EXPECT_EQ(made, 1); // no view made when nothing changed
  gen = 2;
  EXPECT_EQ(feed(), "event: view\ndata: {}\n\n");
}

TEST(Web, ACostlyViewIsMadeLessOften) {
  uint64_t gen = 1, now = 1000;
  int made = 0;
  ViewFeed feed([&] { return gen; },
                [&] {
                  ++made;
                  now += 300; // a view that takes 300 ms to make
                  return std::string("{}");
                },
                [&] { return now; });
  EXPECT_NE(feed(), ""); // made from 1000 to 1300: rests until 2500
  gen = 2;
  now = 2400;
  EXPECT_EQ(feed(), "");
  EXPECT_EQ(made, 1);
  now = 2500;
  EXPECT_NE(feed(), "");
  EXPECT_EQ(made, 2);
}

// ---- the server's streams -------------------------------------------------

UniqueFd dial(uint16_t port, int rcvbuf = 0) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (rcvbuf)
    setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    return UniqueFd();
  return fd;
}

// Reads until `want` shows up, the peer closes, or ms pass.
std::string read_until(int fd, std::string_view want, int ms) {
  std::string out;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (out.find(want) == std::string::npos) {
    const int left = int(std::chrono::duration_cast<std::chrono::milliseconds>(
                             end - std::chrono::steady_clock::now())
                             .count());
    if (left <= 0)
      break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0)
      break;
    char buf[65536];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    out.append(buf, size_t(n));
  }
  return out;
}

std::string get(uint16_t port, const std::string& path) {
  UniqueFd fd = dial(port);
  const std::string req = "GET " + path + " HTTP/1.1\r\n\r\n";
  ::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL);
  return read_until(fd.get(), "\n\n\n\n(never)", 3000);
}

struct StreamServer {
  std::atomic<int> state{0};
  std::string big; // what the feed sends with each state: its size tests the bound
  HttpCounters counted;
  std::mutex mu;
  std::unique_ptr<HttpServer> server;
  StreamServer(HttpLimits l, size_t feed_bytes) : big(feed_bytes, 'x') {
    ListenAddr a;
    a.port = 0;
    server = std::make_unique<HttpServer>(a, l);
    server->start(
        [](const HttpRequest& r) {
          HttpResponse res{200, "text/plain", "path " + r.path + "\n"};
          if (r.path == "/s") {
            res.stream = true;
            res.body = sse_event("view", "first");
          }
          return res;
        },
        [this](const HttpCounters& c) {
          std::lock_guard lock(mu);
          counted.refused += c.refused;
          counted.timeouts += c.timeouts;
        },
        [this] {
          const int s = state.load();
          return s ? sse_event("view", "state " + std::to_string(s) + " " + big) : std::string();
        });
  }
  HttpCounters counters() {
    std::lock_guard lock(mu);
    return counted;
  }
};

TEST(HttpStream, SendsTheFirstViewThenEachNewOne) {
  HttpLimits l;
  l.stream_poll_ms = 50;
  StreamServer t(l, 0);
  UniqueFd s = dial(t.server->port());
  ::send(s.get(), "GET /s HTTP/1.1\r\n\r\n", 19, MSG_NOSIGNAL);
  const std::string head = read_until(s.get(), "data: first\n\n", 3000);
  EXPECT_EQ(head.substr(0, head.find("\r\n")), "HTTP/1.1 200 OK");
  EXPECT_NE(head.find("Content-Type: text/event-stream\r\n"), std::string::npos);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos);
  EXPECT_NE(head.find("\r\n\r\nevent: view\ndata: first\n\n"), std::string::npos);
  t.state = 1;
  EXPECT_NE(read_until(s.get(), "state 1", 3000).find("event: view\ndata: state 1 \n\n"),
            std::string::npos);
  t.state = 2;
  EXPECT_NE(read_until(s.get(), "state 2", 3000).find("data: state 2"), std::string::npos);
  // Ordinary requests are served beside the open stream.
  EXPECT_NE(get(t.server->port(), "/x").find("path /x"), std::string::npos);
}

TEST(HttpStream, StreamsAreCappedApartFromRequests) {
  HttpLimits l;
  l.max_streams = 2;
  StreamServer t(l, 0);
  std::vector<UniqueFd> streams;
  for (int i = 0; i < 2; ++i) {
    streams.push_back(dial(t.server->port()));
    ::send(streams.back().get(), "GET /s HTTP/1.1\r\n\r\n", 19, MSG_NOSIGNAL);
    ASSERT_NE(read_until(streams.back().get(), "first", 3000).find("first"), std::string::npos);
  }
  const std::string third = get(t.server->port(), "/s");
  EXPECT_EQ(third.substr(0, third.find("\r\n")), "HTTP/1.1 503 Service Unavailable");
  EXPECT_NE(get(t.server->port(), "/x").find("path /x"), std::string::npos);
  // One goes: its place is free again.
  streams.pop_back();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  UniqueFd again = dial(t.server->port());
  ::send(again.get(), "GET /s HTTP/1.1\r\n\r\n", 19, MSG_NOSIGNAL);
  EXPECT_NE(read_until(again.get(), "first", 3000).find("first"), std::string::npos);
}

TEST(HttpStream, AClientThatTakesNothingIsCutAndHoldsNoQueue) {
  HttpLimits l;
  l.stream_poll_ms = 20;
  l.response_timeout_ms = 700;
  // 1 MB states, many a second, to a client that never reads: were they
  // queued, the server would hold hundreds of MB before the deadline.
  StreamServer t(l, 1 << 20);
  UniqueFd slow = dial(t.server->port(), 4096);
  ::send(slow.get(), "GET /s HTTP/1.1\r\n\r\n", 19, MSG_NOSIGNAL);
  for (int i = 1; i <= 40; ++i) {
    t.state = i;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    // The server stays responsive to others meanwhile.
    if (i % 10 == 0) {
      EXPECT_NE(get(t.server->port(), "/x").find("path /x"), std::string::npos) << i;
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_GE(t.counters().timeouts, 1u);
  // Read what the server had sent before it cut the stream: the stream ends
  // (EOF or reset), it does not go on.
  std::string got;
  char buf[65536];
  ssize_t n;
  timeval tv{3, 0};
  setsockopt(slow.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while ((n = ::recv(slow.get(), buf, sizeof buf, 0)) > 0)
    got.append(buf, size_t(n));
  EXPECT_LE(n, 0);
  EXPECT_LT(got.size(), size_t(8) << 20); // far less than 40 states of 1 MB
}

} // namespace
} // namespace nt
