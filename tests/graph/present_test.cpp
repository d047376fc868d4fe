// Unit tests of what netgraph shows (present.cpp, render.cpp): collapsed
// clients, outside ends drawn to the process that owns their address, the
// DOT's title, legend, self-loops and parallel edges, JSON fields and SVG
// tooltips; on the recorded k3s trace and on hand-made lines.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>

#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "graph/graph.h"
#include "graph/netgraph_cli.h"
#include "graph/present.h"
#include "graph/reader.h"
#include "graph/render.h"
#include "trace/parse.h"

namespace nt {
namespace {

Graph finished(const std::vector<std::pair<std::string, std::string>>& host_lines,
               GraphOptions o = {}) {
  GraphBuilder b(o);
  Record r;
  for (const auto& [host, line] : host_lines)
    if (parse_line(line, r).kind == ParseKind::Record)
      b.add(r, host);
  return b.finish();
}

Graph finished(const std::vector<std::string>& lines, GraphOptions o = {}) {
  std::vector<std::pair<std::string, std::string>> hl;
  for (const auto& l : lines)
    hl.push_back({"h", l});
  return finished(hl, o);
}

std::vector<std::string> k3s_lines() {
  std::ifstream in(NT_EXAMPLE_TRACES "/k3s-cluster.trace");
  EXPECT_TRUE(in) << "missing " NT_EXAMPLE_TRACES "/k3s-cluster.trace";
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

// "client -> server :port xN" (+ " dashed"), one per edge, by display name.
std::multiset<std::string> edges(const Graph& g) {
  std::multiset<std::string> out;
  for (const Edge& e : g.edges)
    out.insert(display_name(g, e.from) + " -> " + display_name(g, e.to) + " :" +
               std::to_string(e.port) + " x" + std::to_string(e.count) +
               (e.matched ? "" : " dashed"));
  return out;
}

const Node* find_node(const Graph& g, const std::string& display) {
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (display_name(g, i) == display)
      return &g.nodes[i];
  return nullptr;
}

std::string dot_text(const Graph& g) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  EXPECT_TRUE(write_dot(g, f));
  std::fclose(f);
  std::string dot(buf, len);
  free(buf);
  return dot;
}

std::string rendered(const Graph& g, const std::string& format) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  std::string why;
  EXPECT_TRUE(render(g, format, f, why)) << why;
  std::fclose(f);
  std::string out(buf, len);
  free(buf);
  return out;
}

TEST(Collapse, K3sKubectlClientsBecomeOneNodeCountingTheirConnections) {
  Graph g = finished(k3s_lines());
  present(g, GroupBy::Pid);
  size_t kubectl_nodes = 0;
  for (const Node& n : g.nodes)
    kubectl_nodes += n.name == "kubectl";
  EXPECT_EQ(kubectl_nodes, 1u);
  const Node* k = find_node(g, "kubectl (14 processes)");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->pids.size(), 14u);
  EXPECT_EQ(k->pid, 0u);
  EXPECT_EQ(k->label, "kubectl (14 processes)\\n127.0.0.1");
  EXPECT_EQ(std::set<uint32_t>(k->pids.begin(), k->pids.end()).count(722239), 1u);
  // One edge with the 14 connections, where there were 14 edges of one.
  std::multiset<std::string> e = edges(g);
  EXPECT_EQ(e.count("kubectl (14 processes) -> k3s-server (pid 16254) :6443 x14"), 1u);
  for (const std::string& s : e)
    EXPECT_EQ(s.find("kubectl (pid"), std::string::npos) << s;
}

TEST(Collapse, K3sNcatServerStaysApartFromItsNcatClients) {
  Graph g = finished(k3s_lines());
  present(g, GroupBy::Pid);
  const Node* server = find_node(g, "ncat (pid 723429)");
  ASSERT_NE(server, nullptr) << "the ncat server was merged with its clients";
  EXPECT_FALSE(server->collapsed());
  const Node* clients = find_node(g, "ncat (4 processes)");
  ASSERT_NE(clients, nullptr);
  EXPECT_EQ(clients->pids, (std::vector<uint32_t>{723715, 723736, 723753, 723801}));
  std::multiset<std::string> e = edges(g);
  EXPECT_EQ(e.count("ncat (4 processes) -> ncat (pid 723429) :5673 x2"), 1u);
  EXPECT_EQ(e.count("ncat (4 processes) -> tcp-echo (pid 722977) :5671 x2"), 1u);
}

// A client that also accepts (an edge comes in) is never merged, even with
// clients of its name; one process of a name alone stays as it is.
TEST(Collapse, OnlyClientOnlyProcessesOfOneNameAndHost) {
  Graph g = finished(std::vector<std::pair<std::string, std::string>>{
      {"a", "10.0.0.1:80<-10.0.0.2:1|PID=10 CMD=curl"},
      {"a", "10.0.0.2:1->10.0.0.1:80|PID=20 CMD=nginx"},
      {"a", "10.0.0.1:80<-10.0.0.2:2|PID=11 CMD=curl"},
      {"a", "10.0.0.2:2->10.0.0.1:80|PID=20 CMD=nginx"},
      {"a", "10.0.0.3:81<-10.0.0.2:3|PID=12 CMD=curl"}, // curl 12 also accepts below
      {"a", "10.0.0.9:4->10.0.0.2:8080|PID=12 CMD=curl"},
      {"b", "10.0.0.1:80<-10.0.1.2:5|PID=13 CMD=curl"}, // another host
      {"a", "10.0.0.1:80<-10.0.0.2:6|PID=14 CMD=wget"}, // alone
  });
  present(g, GroupBy::Pid);
  EXPECT_NE(find_node(g, "curl (2 processes) on a"), nullptr);
  EXPECT_NE(find_node(g, "curl (pid 12) on a"), nullptr);
  EXPECT_NE(find_node(g, "curl (pid 13) on b"), nullptr);
  EXPECT_NE(find_node(g, "wget (pid 14) on a"), nullptr);
  EXPECT_EQ(edges(g).count("curl (2 processes) on a -> nginx (pid 20) on a :80 x2"), 1u);
}

// --group-by pid: one node per process as before. Next to what the builder
// alone gives, the only change is item 2 of the issue: the three outside
// nodes whose address one traced process owns are that process now.
TEST(Collapse, GroupByPidKeepsEveryProcessAsTheBuilderGivesIt) {
  Graph before = finished(k3s_lines());
  Graph after = before;
  PresentOptions pid_view;
  pid_view.collapse_clients = false;
  present(after, GroupBy::Pid, pid_view);
  std::multiset<std::string> want;
  for (const Edge& e : before.edges) {
    std::string from = display_name(before, e.from), to = display_name(before, e.to);
    // The owners: k3s-server alone has 10.42.0.1, metrics-server 10.42.0.4, coredns 10.42.0.3.
    if (from == "10.42.0.1 (not traced)")
      from = "k3s-server (pid 16254)";
    if (to == "10.42.0.4:10250 (not traced)")
      to = "metrics-server (pid 19110)";
    if (to == "10.42.0.3:8181 (not traced)")
      to = "coredns (pid 19190)";
    want.insert(from + " -> " + to + " :" + std::to_string(e.port) + " x" +
                std::to_string(e.count) + (e.matched ? "" : " dashed"));
  }
  // Equal edges after that are one, counting both.
  want.erase("k3s-server (pid 16254) -> metrics-server (pid 19110) :10250 x1 dashed");
  want.insert("k3s-server (pid 16254) -> metrics-server (pid 19110) :10250 x2 dashed");
  EXPECT_EQ(edges(after), want);
  size_t kubectl = 0;
  for (size_t i = 0; i < after.nodes.size(); ++i) {
    if (after.nodes[i].name != "kubectl")
      continue;
    ++kubectl;
    EXPECT_EQ(after.nodes[i].label,
              "kubectl\\npid " + std::to_string(after.nodes[i].pid) + "\\n127.0.0.1");
  }
  EXPECT_EQ(kubectl, 14u);
  // Process nodes are the builder's, in its order, with its labels.
  std::vector<std::string> b, a;
  for (const Node& n : before.nodes)
    if (!n.external)
      b.push_back(n.key + "|" + n.label);
  for (const Node& n : after.nodes)
    if (!n.external)
      a.push_back(n.key + "|" + n.label);
  EXPECT_EQ(a, b);
}

TEST(Collapse, CliTurnsItOffWithAnExplicitGroupBy) {
  std::ostringstream out, err;
  NetgraphConfig dflt, pid, comm;
  const char* a0[] = {"netgraph"};
  const char* a1[] = {"netgraph", "--group-by", "pid"};
  const char* a2[] = {"netgraph", "--group-by", "comm"};
  EXPECT_FALSE(parse_netgraph_cli(1, a0, dflt, out, err));
  EXPECT_FALSE(parse_netgraph_cli(3, a1, pid, out, err));
  EXPECT_FALSE(parse_netgraph_cli(3, a2, comm, out, err));
  EXPECT_TRUE(dflt.present.collapse_clients);
  EXPECT_FALSE(pid.present.collapse_clients);
  EXPECT_EQ(pid.graph.group_by, GroupBy::Pid);
}

TEST(Outside, K3sEndsAtAnAddressOneProcessOwnsAreDrawnToThatProcess) {
  Graph g = finished(k3s_lines());
  present(g, GroupBy::Pid);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const std::string name = display_name(g, i);
    EXPECT_EQ(name.rfind("10.42.0.", 0), std::string::npos)
        << name << " repeats an address a traced process has";
  }
  std::multiset<std::string> e = edges(g);
  // Unmatched accepts from 10.42.0.1 (k3s-server's address) and unmatched
  // connects to 10.42.0.4:10250 (metrics-server's): one dashed edge.
  EXPECT_EQ(e.count("k3s-server (pid 16254) -> metrics-server (pid 19110) :10250 x2 dashed"), 1u);
  EXPECT_EQ(e.count("k3s-server (pid 16254) -> coredns (pid 19190) :8181 x1 dashed"), 1u);
  EXPECT_EQ(e.count("k3s-server (pid 16254) -> coredns (pid 19190) :8080 x1 dashed"), 1u);
  // What nobody traced owns is labelled as outside, and has its address.
  const Node* out = find_node(g, "54.198.86.24:443 (not traced)");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->label, "54.198.86.24:443 (not traced)");
  EXPECT_EQ(out->addresses, std::vector<std::string>{"54.198.86.24"});
}

TEST(Outside, AnAddressTwoProcessesHaveOrLoopbackElsewhereStaysOutside) {
  Graph g = finished(std::vector<std::pair<std::string, std::string>>{
      // 10.0.0.5 is local to two processes: which one? Not said.
      {"a", "10.0.0.9:80<-10.0.0.5:1|PID=1 CMD=one"},
      {"a", "10.0.0.9:81<-10.0.0.5:2|PID=2 CMD=two"},
      {"a", "10.0.0.5:3->10.0.0.7:22|PID=3 CMD=sshd"},
      // Loopback: every process on a host has 127.0.0.1, which names none
      // of them (here srv and local would be the only owners on b and a).
      {"a", "127.0.0.1:5<-127.0.0.1:6|PID=4 CMD=local"},
      {"b", "127.0.0.1:7->127.0.0.1:8|PID=5 CMD=srv"},
  });
  present(g, GroupBy::Pid);
  std::multiset<std::string> e = edges(g);
  EXPECT_EQ(e.count("10.0.0.5 (not traced) -> sshd (pid 3) on a :22 x1 dashed"), 1u)
      << testing::PrintToString(e);
  EXPECT_EQ(e.count("127.0.0.1 (not traced) -> srv (pid 5) on b :8 x1 dashed"), 1u)
      << testing::PrintToString(e);
  EXPECT_EQ(e.count("local (pid 4) on a -> 127.0.0.1:5 (not traced) :5 x1 dashed"), 1u)
      << testing::PrintToString(e);
}

// The same edges drawn once each: self-loops and parallel edges of one style
// share one DOT edge with a line per port, a solid loop on top, a dashed one
// below: Graphviz then has one label to place per edge, and none overlap.
// --group-by service (issue 16): the service addresses between clients and
// servers, with the connections through them counted on both sides.
TEST(Service, GroupByServiceDrawsServiceNodesBetweenClientsAndServers) {
  const std::vector<std::string> lines = {
      "10.43.0.10:53<-10.42.0.5:50392|PID=2101 CMD=app",
      "# nat remote=10.42.0.3:53",
      "10.42.0.5:50392->10.42.0.3:53|PID=1800 CMD=coredns",
      "10.43.0.10:53<-10.42.0.7:50000|PID=2200 CMD=web",
      "# nat remote=10.42.0.4:53",
      "10.42.0.7:50000->10.42.0.4:53|PID=1801 CMD=coredns",
      "10.43.0.10:53<-10.42.0.7:50002|PID=2200 CMD=web",
      "# nat remote=10.42.0.4:53",
      "10.42.0.7:50002->10.42.0.4:53|PID=1801 CMD=coredns",
      "10.42.0.9:80<-10.42.0.7:50004|PID=2200 CMD=web", // not through a service
      "10.42.0.7:50004->10.42.0.9:80|PID=300 CMD=nginx",
  };
  GraphOptions o;
  o.group_by = GroupBy::Service;
  Graph g = finished(lines, o);
  present(g, GroupBy::Service, {});
  std::multiset<std::string> got;
  for (const Edge& e : g.edges)
    got.insert(display_name(g, e.from) + " -> " + display_name(g, e.to) + " :" +
               std::to_string(e.port) + " x" + std::to_string(e.count) +
               (e.via.empty() ? "" : " via " + e.via));
  EXPECT_EQ(got, (std::multiset<std::string>{"app (pid 2101) -> service 10.43.0.10:53 :53 x1",
                                             "web (pid 2200) -> service 10.43.0.10:53 :53 x2",
                                             "service 10.43.0.10:53 -> coredns (pid 1800) :53 x1",
                                             "service 10.43.0.10:53 -> coredns (pid 1801) :53 x2",
                                             "web (pid 2200) -> nginx (pid 300) :80 x1"}));
  // Grouped by process, the edges name the service instead.
  Graph p = finished(lines);
  present(p, GroupBy::Pid, {});
  const std::string dot = dot_text(p);
  EXPECT_NE(dot.find(":53 via 10.43.0.10:53 x2"), std::string::npos) << dot;
  bool via = false;
  const nlohmann::json pj = nlohmann::json::parse(to_json(p));
  for (const auto& e : pj["edges"])
    via |= e.value("via", std::string()) == "10.43.0.10:53";
  EXPECT_TRUE(via);
  const std::string svc_dot = dot_text(g);
  // Each connection counted once, not on both sides of its service.
  EXPECT_NE(svc_dot.find("5 processes, 4 connections<"), std::string::npos) << svc_dot;
  EXPECT_NE(svc_dot.find("shape=diamond"), std::string::npos) << svc_dot;
  bool service = false;
  const nlohmann::json gj = nlohmann::json::parse(to_json(g));
  for (const auto& n : gj["nodes"])
    service |= n.value("service", false) && n.value("name", std::string()) == "10.43.0.10:53";
  EXPECT_TRUE(service);
}

TEST(Dot, OneEdgePerPairAndStyleAndLoopsOnTopOrBelow) {
  Graph g = finished(k3s_lines());
  present(g, GroupBy::Pid);
  const std::string dot = dot_text(g);
  EXPECT_NE(dot.find("\"k3s-server (pid 16254)\":n -> \"k3s-server (pid 16254)\":n\t[label=\":6443"
                     "\\n:10250\""),
            std::string::npos)
      << dot;
  EXPECT_NE(dot.find("\"coredns (pid 19190)\":n -> \"coredns (pid 19190)\":n"), std::string::npos);
  // Edges into a node with loops come in on its west side, under the loop's label.
  EXPECT_NE(dot.find("\"kubectl (14 processes)\" -> \"k3s-server (pid 16254)\":w"),
            std::string::npos)
      << dot;
  // No two DOT edges with the same ends and style. An edge statement is
  // "\t<tail> -> <head>\t[attributes];" (attributes may span lines).
  std::set<std::string> seen;
  size_t edges_seen = 0;
  for (size_t at = dot.find("\n\t"); at != std::string::npos; at = dot.find("\n\t", at + 1)) {
    const size_t attrs = dot.find("\t[", at + 2);
    const size_t end = dot.find("];", at);
    if (attrs == std::string::npos || end == std::string::npos || attrs > end)
      continue;
    const std::string ends = dot.substr(at + 2, attrs - at - 2);
    if (ends.find(" -> ") == std::string::npos || ends.find('\n') != std::string::npos)
      continue;
    const bool dashed = dot.substr(attrs, end - attrs).find("style=dashed") != std::string::npos;
    ++edges_seen;
    EXPECT_TRUE(seen.insert(ends + (dashed ? " dashed" : "")).second) << ends;
  }
  EXPECT_GE(edges_seen, 10u);
}

TEST(Dot, TitleSaysWhatThePictureIsAndALegendWhatLinesMean) {
  Graph g = finished(k3s_lines());
  present(g, GroupBy::Pid);
  const std::string dot = dot_text(g);
  EXPECT_NE(dot.find("TCP connections on h"), std::string::npos) << dot;
  EXPECT_NE(dot.find("25 processes, 91 connections (21 with one end not traced)"),
            std::string::npos);
  EXPECT_NE(dot.find("dashed: one end not in the trace"), std::string::npos);
  EXPECT_NE(dot.find("name (N processes)"), std::string::npos);
  EXPECT_EQ(dot.find("incomplete"), std::string::npos);

  // JSON lines carry times and lost markers: the span and the loss are said.
  Graph t = finished(std::vector<std::pair<std::string, std::string>>{
      {"web1", R"({"type":"connect","ts_ns":1795000000000000000,"local_ip":"10.0.0.2",)"
               R"("local_port":4000,"remote_ip":"10.0.0.1","remote_port":80,"pid":7,"comm":"c"})"},
      {"db1", R"({"type":"lost","ts_ns":1795000030000000000,"count":7})"},
      {"db1", R"({"type":"accept","ts_ns":1795000312000000000,"local_ip":"10.0.0.1",)"
              R"("local_port":80,"remote_ip":"10.0.0.2","remote_port":4000,"pid":8,"comm":"s"})"},
  });
  present(t, GroupBy::Pid);
  const std::vector<std::string> title = title_lines(t);
  EXPECT_EQ(title,
            (std::vector<std::string>{
                "TCP connections on web1, db1", "2026-11-18 11:06:40 to 11:11:52 UTC (5 min 12 s)",
                "2 processes, 1 connection",
                "incomplete: 7 events lost while tracing (raise nettrace --ringbuf-size)"}));
  const std::string tdot = dot_text(t);
  EXPECT_NE(tdot.find("incomplete: 7 events lost"), std::string::npos) << tdot;
  EXPECT_EQ(tdot.find("(N processes)"), std::string::npos) << "legend for what is not drawn";
}

// An edge paired only by arrival order (Edge::ambiguous, set by the
// builder) is drawn apart from sure ones, dotted and marked "?".
TEST(Dot, AmbiguousPairsAreDottedAndMarked) {
  Graph g = finished(std::vector<std::string>{"10.0.0.1:80<-10.0.0.2:1|PID=10 CMD=cli",
                                              "10.0.0.2:1->10.0.0.1:80|PID=20 CMD=srv"});
  ASSERT_EQ(g.edges.size(), 1u);
  Edge sure = g.edges[0];
  g.edges[0].ambiguous = true;
  g.edges.push_back(sure);
  present(g, GroupBy::Pid);
  ASSERT_EQ(g.edges.size(), 2u) << "an ambiguous pair was merged with a sure one";
  const std::string dot = dot_text(g);
  EXPECT_NE(dot.find("[label=\"? :80\",\n\t\tstyle=dotted"), std::string::npos) << dot;
  EXPECT_NE(dot.find("dotted, '?': paired by order"), std::string::npos) << dot;
}

TEST(Json, NodesCarryTheirFacts) {
  Graph g = finished(k3s_lines());
  present(g, GroupBy::Pid);
  const nlohmann::json j = nlohmann::json::parse(to_json(g));
  bool server = false, kubectl = false, outside = false;
  for (const auto& n : j["nodes"]) {
    if (n["name"] == "k3s-server") {
      server = true;
      EXPECT_EQ(n["pid"], 16254);
      EXPECT_EQ(n["host"], "h");
      EXPECT_EQ(n["addresses"], nlohmann::json({"10.42.0.1", "127.0.0.1"}));
    } else if (n["name"] == "kubectl") {
      kubectl = true;
      EXPECT_EQ(n["processes"], 14);
      EXPECT_EQ(n["pids"].size(), 14u);
      EXPECT_EQ(n["pids"][0], 722239);
      EXPECT_FALSE(n.contains("pid"));
    } else if (n["name"] == "54.227.20.253:443") {
      outside = true;
      EXPECT_EQ(n["external"], true);
      EXPECT_EQ(n["addresses"], nlohmann::json({"54.227.20.253"}));
    }
  }
  EXPECT_TRUE(server && kubectl && outside) << j.dump(1);
}

TEST(Svg, TooltipsNameTheProcessesAndTheEdge) {
  std::vector<std::string> lines;
  for (int i = 0; i < 12; ++i) {
    const std::string p = std::to_string(40000 + i);
    lines.push_back("10.0.0.7:443<-10.0.0.2:" + p + "|PID=42 CMD=curl");
    lines.push_back("10.0.0.2:" + p + "->10.0.0.7:443|PID=7 CMD=nginx");
  }
  Graph g = finished(lines);
  present(g, GroupBy::Pid);
  const std::string svg = rendered(g, "svg");
  EXPECT_NE(svg.find("xlink:title=\"curl (pid 42) &#45;&gt; nginx (pid 7) :443, 12 connections\""),
            std::string::npos)
      << svg;
  EXPECT_NE(svg.find("xlink:title=\"curl (pid 42) at 10.0.0.2\""), std::string::npos);
  EXPECT_EQ(svg.find("<title>n0"), std::string::npos) << "internal ids in the SVG";
}

struct Collect : LineConsumer {
  std::vector<std::string> lines;
  void on_line(std::string_view line, uint64_t, bool) override { lines.emplace_back(line); }
};

// "Finish now" while reading a pipe: what the writer sent is read, and
// reading ends after the grace time although the writer keeps the pipe
// open, or at once when it closes it.
TEST(ReadStop, FinishesAfterTheGraceTimeOrAtEndOfFile) {
  for (bool close_writer : {false, true}) {
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    ASSERT_EQ(write(p[1], "one\ntwo\nthr", 11), 11);
    if (close_writer)
      close(p[1]);
    volatile int stop = 1;
    sigset_t mask;
    sigprocmask(SIG_SETMASK, nullptr, &mask);
    ReadStop rs{&stop, &mask, 300};
    Collect sink;
    std::string err;
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(read_lines(p[0], 1 << 20, sink, err, &rs)) << err;
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    EXPECT_EQ(sink.lines, (std::vector<std::string>{"one", "two", "thr"}));
    if (close_writer) {
      EXPECT_LT(ms, 250) << "did not end at end of file";
    } else {
      EXPECT_GE(ms, 290);
      EXPECT_LT(ms, 2000);
      close(p[1]);
    }
    close(p[0]);
  }
}

} // namespace
} // namespace nt
