// Unit tests of netgraph --prometheus' pure parts (src/graph/fleet.cpp): the
// PromQL it sends, the parse of canned /api/v1/query answers (as Prometheus
// 2.42 writes them), the pairing of "out" and "in" series across instances,
// and the exit codes and lines of the CLI against answers it cannot use.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "graph/fleet.h"
#include "graph/netgraph_cli.h"
#include "graph/present.h"
#include "graph/render.h"

namespace nt {
namespace {

std::string series(const char* inst, const char* comm, const char* dir, const char* addr,
                   const char* port, const char* value) {
  return std::string(R"({"metric":{"comm":")") + comm + R"(","direction":")" + dir +
         R"(","instance":")" + inst + R"(","server_addr":")" + addr + R"(","server_port":")" +
         port + R"("},"value":[1764581000.123,")" + value + R"("]})";
}

// The same with nettrace --nat's `via` label (a translated edge).
std::string series_via(const char* inst, const char* comm, const char* dir, const char* addr,
                       const char* port, const char* via, const char* value) {
  std::string s = series(inst, comm, dir, addr, port, value);
  const std::string at = R"(,"server_port")";
  s.insert(s.find(at), std::string(R"(,"via":")") + via + "\"");
  return s;
}

std::string answer(const std::vector<std::string>& result) {
  std::string s = R"({"status":"success","data":{"resultType":"vector","result":[)";
  for (size_t i = 0; i < result.size(); ++i)
    s += (i ? "," : "") + result[i];
  return s + "]}}";
}

std::vector<FleetSeries> parsed(const std::string& body) {
  std::vector<FleetSeries> out;
  std::string error;
  EXPECT_TRUE(parse_prometheus_answer(body, out, error)) << error;
  return out;
}

// "from -> to :port xN [matched]" per edge, in order.
std::vector<std::string> edges(const Graph& g) {
  std::vector<std::string> v;
  for (const Edge& e : g.edges)
    v.push_back(g.nodes[e.from].host + "/" + g.nodes[e.from].name + " -> " + g.nodes[e.to].host +
                "/" + g.nodes[e.to].name + " :" + std::to_string(e.port) + " x" +
                std::to_string(e.count) + (e.matched ? "" : " unmatched") +
                (e.ambiguous ? " ?" : ""));
  return v;
}

TEST(FleetQuery, AsksForTheRiseOverTheRangeWithTheFilter) {
  const std::string q = fleet_query("1h", R"(job="nettrace")");
  EXPECT_EQ(q, "sum by (instance, comm, direction, server_addr, server_port, via) "
               "(clamp_min(last_over_time(nettrace_connections_total{job=\"nettrace\"}[1h]) - "
               "(nettrace_connections_total{job=\"nettrace\"} offset 1h), 0) or on(instance, "
               "job, comm, direction, server_addr, server_port, via) "
               "last_over_time(nettrace_connections_total{job=\"nettrace\"}[1h]))");
}

// netgraph loads libcurl (and the 33 libraries it brings) only when it asks
// Prometheus: linked, they cost every run 5.8 ms and 6.5 MB at start.
TEST(FleetQuery, LibcurlIsLoadedOnlyWhenPrometheusIsAsked) {
  EXPECT_FALSE(curl_is_loaded());
  std::string body, error;
  // Nothing listens on loopback port 1: refused at once.
  EXPECT_EQ(query_prometheus("http://127.0.0.1:1", "up", body, error), 0);
  EXPECT_TRUE(curl_is_loaded());
  EXPECT_NE(error.find("127.0.0.1"), std::string::npos) << error;
}

TEST(FleetQuery, Durations) {
  for (const char* ok : {"1h", "30m", "90s", "1h30m", "7d", "500ms", "2w", "1y"})
    EXPECT_TRUE(valid_prom_duration(ok)) << ok;
  for (const char* bad : {"", "1", "h", "1 h", "-1h", "1h]", "1.5h", "1h) or vector(1"})
    EXPECT_FALSE(valid_prom_duration(bad)) << bad;
}

TEST(FleetParse, SeriesOfAnAnswer) {
  const auto s =
      parsed(answer({series("127.0.0.1:9477", "curl", "out", "10.0.0.2", "443", "5"),
                     series("127.0.0.1:9478", "nginx", "in", "fd00::2", "443", "4.9999")}));
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].instance, "127.0.0.1:9477");
  EXPECT_EQ(s[0].comm, "curl");
  EXPECT_TRUE(s[0].out);
  EXPECT_EQ(s[0].server_addr, "10.0.0.2");
  EXPECT_EQ(s[0].server_port, 443);
  EXPECT_EQ(s[0].count, 5u);
  EXPECT_FALSE(s[1].out);
  EXPECT_EQ(s[1].server_addr, "fd00::2");
  EXPECT_EQ(s[1].count, 5u); // rounded, not cut
}

TEST(FleetParse, ZeroSeriesAreLeftOut) {
  EXPECT_TRUE(parsed(answer({series("a", "curl", "out", "10.0.0.2", "80", "0")})).empty());
  EXPECT_TRUE(parsed(answer({})).empty());
}

TEST(FleetParse, ErrorsSayWhat) {
  auto error_of = [](const std::string& body) {
    std::vector<FleetSeries> out;
    std::string error;
    EXPECT_FALSE(parse_prometheus_answer(body, out, error)) << body;
    return error;
  };
  EXPECT_EQ(error_of(R"({"status":"error","errorType":"bad_data","error":"1:5: parse error"})"),
            "Prometheus says bad_data: 1:5: parse error");
  EXPECT_EQ(error_of("<html>404 page not found</html>"),
            "the answer is not JSON (is the URL a Prometheus server?)");
  EXPECT_EQ(error_of(R"({"status":"success","data":{"resultType":"matrix","result":[]}})"),
            "the answer holds no vector result");
  EXPECT_EQ(error_of(answer({series("a", "x", "sideways", "10.0.0.1", "80", "1")})),
            "a series has no direction label \"in\" or \"out\" (not nettrace's edge counter)");
  EXPECT_EQ(error_of(answer({series("a", "x", "out", "10.0.0.1", "0", "1")})),
            "a series has no valid server_addr and server_port labels (\"10.0.0.1\", \"0\")");
  EXPECT_EQ(error_of(answer({series("a", "x", "out", "host", "80", "1")})),
            "a series has no valid server_addr and server_port labels (\"host\", \"80\")");
}

TEST(FleetGraph, PairsAcrossInstancesOnServerAddressAndPort) {
  const auto s = parsed(answer({
      series("a:9477", "curl", "out", "10.0.0.2", "443", "5"),
      series("c:9477", "wget", "out", "10.0.0.2", "443", "3"),
      series("b:9477", "nginx", "in", "10.0.0.2", "443", "10"), // 2 from clients not scraped
      series("a:9477", "curl", "out", "192.0.2.9", "53", "7"),  // nobody scraped owns it
      series("b:9477", "nginx", "in", "10.0.0.2", "8080", "1"),
  }));
  Graph g = fleet_graph(s, GraphOptions{});
  EXPECT_EQ(g.hosts, (std::vector<std::string>{"a:9477", "b:9477", "c:9477"})); // first seen
  EXPECT_EQ(edges(g), (std::vector<std::string>{
                          "a:9477/curl -> b:9477/nginx :443 x5",
                          "c:9477/wget -> b:9477/nginx :443 x3",
                          "a:9477/curl -> /192.0.2.9 :53 x7 unmatched",
                          "/other clients -> b:9477/nginx :443 x2 unmatched",
                          "/other clients -> b:9477/nginx :8080 x1 unmatched",
                      }));
  EXPECT_EQ(g.stats.matched, 8u);
  EXPECT_EQ(g.stats.unmatched_connects, 7u);
  EXPECT_EQ(g.stats.unmatched_accepts, 3u);
}

TEST(FleetGraph, LoopbackPairsOnlyWithinItsInstance) {
  const auto s = parsed(answer({
      series("a", "psql", "out", "127.0.0.1", "5432", "4"),
      series("b", "postgres", "in", "127.0.0.1", "5432", "9"),
      series("a", "postgres", "in", "127.0.0.1", "5432", "4"),
  }));
  EXPECT_EQ(edges(fleet_graph(s, GraphOptions{})),
            (std::vector<std::string>{"a/psql -> a/postgres :5432 x4",
                                      "/other clients -> b/postgres :5432 x9 unmatched"}));
  GraphOptions no_lo;
  no_lo.no_loopback = true;
  EXPECT_TRUE(fleet_graph(s, no_lo).edges.empty());
}

TEST(FleetGraph, TwoAcceptorsOfOneAddressAreAmbiguous) {
  const auto s = parsed(answer({
      series("a", "curl", "out", "10.0.0.2", "80", "2"),
      series("b", "nginx", "in", "10.0.0.2", "80", "1"),
      series("b", "haproxy", "in", "10.0.0.2", "80", "1"),
  }));
  EXPECT_EQ(edges(fleet_graph(s, GraphOptions{})),
            (std::vector<std::string>{"a/curl -> b/nginx :80 x2 ?",
                                      "/other clients -> b/haproxy :80 x1 unmatched"}));
}

// nettrace --nat counts a connect to a Service on the backend it reached, with
// the Service as `via`, and the backend's accepts through it with the same
// `via`: the edge pairs and says which Service, and the backend's direct
// accepts on the same address are its own series, not a second acceptor.
TEST(FleetGraph, TranslatedEdgesPairOnTheBackendAndSayVia) {
  const auto s = parsed(answer({
      series_via("a", "curl", "out", "10.42.0.3", "8080", "10.43.0.10:80", "4"),
      series_via("b", "nginx", "in", "10.42.0.3", "8080", "10.43.0.10:80", "4"),
      series("c", "wget", "out", "10.42.0.3", "8080", "2"), // straight to the pod
      series("b", "nginx", "in", "10.42.0.3", "8080", "2"),
  }));
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0].via, "10.43.0.10:80");
  EXPECT_EQ(s[2].via, "");
  const Graph g = fleet_graph(s, GraphOptions{});
  EXPECT_EQ(edges(g),
            (std::vector<std::string>{"a/curl -> b/nginx :8080 x4", "c/wget -> b/nginx :8080 x2"}));
  ASSERT_EQ(g.edges.size(), 2u);
  EXPECT_EQ(g.edges[0].via, "10.43.0.10:80");
  EXPECT_EQ(g.edges[1].via, "");
  EXPECT_EQ(g.stats.unmatched_accepts, 0u);
  EXPECT_EQ(g.stats.ambiguous, 0u);
  EXPECT_NE(to_json(g).find(R"("via": "10.43.0.10:80")"), std::string::npos) << to_json(g);
}

TEST(FleetGraph, IncludeAndExcludeOnProcessNames) {
  const auto s = parsed(answer({
      series("a", "curl", "out", "10.0.0.2", "80", "2"),
      series("a", "wget", "out", "10.0.0.2", "80", "1"),
      series("b", "nginx", "in", "10.0.0.2", "80", "3"),
  }));
  GraphOptions o;
  o.exclude = "^wget$";
  EXPECT_EQ(edges(fleet_graph(s, o)),
            (std::vector<std::string>{"a/curl -> b/nginx :80 x2",
                                      "/other clients -> b/nginx :80 x1 unmatched"}));
  o.exclude.clear();
  o.include = "wget";
  EXPECT_EQ(edges(fleet_graph(s, o)), (std::vector<std::string>{"a/wget -> b/nginx :80 x1"}));
}

TEST(FleetGraph, DrawnAsClustersPerInstance) {
  const auto s = parsed(answer({
      series("a:9477", "curl", "out", "10.0.0.2", "443", "5"),
      series("b:9477", "nginx", "in", "10.0.0.2", "443", "5"),
  }));
  Graph g = fleet_graph(s, GraphOptions{});
  present(g, GroupBy::Comm, PresentOptions{false, 1});
  const std::string json = to_json(g);
  EXPECT_NE(json.find(R"("host": "a:9477")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("host": "b:9477")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("count": 5)"), std::string::npos) << json;
}

TEST(FleetCli, PrometheusGoesWithoutTraceOptions) {
  auto parse = [](std::vector<const char*> args, std::string& err) {
    NetgraphConfig c;
    std::ostringstream o, e;
    args.insert(args.begin(), "netgraph");
    auto code = parse_netgraph_cli(int(args.size()), args.data(), c, o, e);
    err = e.str();
    return code;
  };
  std::string err;
  EXPECT_EQ(parse({"--prometheus", "http://127.0.0.1:1", "x.trace"}, err), kNgUsage);
  EXPECT_NE(err.find("no FILE"), std::string::npos) << err;
  EXPECT_EQ(parse({"--range", "1h"}, err), kNgUsage);
  EXPECT_EQ(parse({"--prometheus", "http://127.0.0.1:1", "--range", "1x"}, err), kNgUsage);
  EXPECT_EQ(parse({"--prometheus", "http://127.0.0.1:1", "--range", "2h"}, err), std::nullopt);
  NetgraphConfig c;
  std::ostringstream o, e;
  const char* braces[] = {"netgraph", "--prometheus", "http://p:9090", "--query-filter",
                          "{job=\"nettrace\"}"};
  EXPECT_EQ(parse_netgraph_cli(5, braces, c, o, e), std::nullopt);
  EXPECT_EQ(c.query_filter, "job=\"nettrace\""); // the braces fleet_query() adds itself
}

TEST(FleetCli, UnreachableServerIsExit5) {
  NetgraphConfig c;
  c.prometheus = "http://127.0.0.1:1"; // port 1: nothing listens there
  testing::internal::CaptureStderr();
  EXPECT_EQ(run_netgraph(c), kNgPrometheus);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.rfind("netgraph: cannot reach Prometheus at http://127.0.0.1:1: ", 0), 0u) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

// Not --prometheus, found on the way: --min-count reached neither the builder
// (which runs with 1) nor present(), so traces drew every edge whatever N was.
TEST(NetgraphCli, MinCountDropsEdgesOfTraces) {
  char path[] = "/tmp/nt-mincount-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const std::string trace = "10.0.0.1:80<-10.0.0.2:40001|PID=1 CMD=cli\n"
                            "10.0.0.2:40001->10.0.0.1:80|PID=2 CMD=srv\n";
  ASSERT_EQ(write(fd, trace.data(), trace.size()), ssize_t(trace.size()));
  close(fd);
  auto edges_with = [&](const char* min) {
    const char* argv[] = {"netgraph", path, "-T", "json", "--min-count", min, "-o", path};
    NetgraphConfig c;
    std::ostringstream o, e;
    EXPECT_EQ(parse_netgraph_cli(8, argv, c, o, e), std::nullopt) << e.str();
    c.output = std::string(path) + ".json";
    testing::internal::CaptureStderr();
    EXPECT_EQ(run_netgraph(c), kNgOk);
    testing::internal::GetCapturedStderr();
    std::ifstream in(c.output);
    const std::string j((std::istreambuf_iterator<char>(in)), {});
    std::remove(c.output.c_str());
    return j.find("\"count\": 1") != std::string::npos;
  };
  EXPECT_TRUE(edges_with("1"));
  EXPECT_FALSE(edges_with("2"));
  std::remove(path);
}

} // namespace
} // namespace nt
