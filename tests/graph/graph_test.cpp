// Unit tests of netgraph's pairing and aggregation, on hand-made lines and on
// the trace recorded with the prototype on a k3s cluster.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/render.h"
#include "trace/parse.h"

namespace nt {
namespace {

Graph build_hosts(const std::vector<std::pair<std::string, std::string>>& host_lines,
                  GraphOptions o = {}) {
  GraphBuilder b(o);
  Record r;
  for (const auto& [host, line] : host_lines) {
    EXPECT_EQ(parse_line(line, r).kind, ParseKind::Record) << line;
    b.add(r, host);
  }
  return b.finish();
}

Graph build(const std::vector<std::string>& lines, GraphOptions o = {}) {
  std::vector<std::pair<std::string, std::string>> hl;
  for (const auto& l : lines)
    hl.push_back({"h", l});
  return build_hosts(hl, o);
}

std::string dot_text(const Graph& g);

// "client-name -> server-name :port xN" for every edge, sorted.
std::multiset<std::string> edges(const Graph& g) {
  std::multiset<std::string> out;
  for (const Edge& e : g.edges)
    out.insert(g.nodes[e.from].name + " -> " + g.nodes[e.to].name + " :" + std::to_string(e.port) +
               " x" + std::to_string(e.count));
  return out;
}

TEST(Pairing, ConnectAndAcceptOfOneTupleMakeOneClientToServerEdge) {
  Graph g = build({"10.0.0.1:80<-10.0.0.2:40000|PID=10 CMD=client",
                   "10.0.0.2:40000->10.0.0.1:80|PID=20 CMD=server",
                   "10.0.0.1:80<-10.0.0.2:40001|PID=10 CMD=client",
                   "10.0.0.2:40001->10.0.0.1:80|PID=20 CMD=server"});
  EXPECT_EQ(edges(g), (std::multiset<std::string>{"client -> server :80 x2"}));
  EXPECT_EQ(g.stats.matched, 2u);
  EXPECT_EQ(g.nodes.size(), 2u);
}

TEST(Pairing, AcceptBeforeConnectPairsToo) {
  Graph g = build(std::vector<std::string>{"10.0.0.2:40000->10.0.0.1:80|PID=20 CMD=server",
                                           "10.0.0.1:80<-10.0.0.2:40000|PID=10 CMD=client"});
  EXPECT_EQ(edges(g), (std::multiset<std::string>{"client -> server :80 x1"}));
}

TEST(Pairing, UnmatchedEndsPointOutside) {
  Graph g = build(std::vector<std::string>{"93.184.216.34:443<-10.0.0.2:40000|PID=10 CMD=curl",
                                           "198.51.100.7:51000->10.0.0.1:22|PID=30 CMD=sshd"});
  EXPECT_EQ(edges(g), (std::multiset<std::string>{"curl -> 93.184.216.34:443 :443 x1",
                                                  "198.51.100.7 -> sshd :22 x1"}));
  EXPECT_EQ(g.stats.unmatched_connects, 1u);
  EXPECT_EQ(g.stats.unmatched_accepts, 1u);
}

TEST(Pairing, LoopbackPairsOnlyWithinOneHostAndNetns) {
  const std::string c =
      "{\"type\":\"connect\",\"local_ip\":\"127.0.0.1\",\"local_port\":5000,"
      "\"remote_ip\":\"127.0.0.1\",\"remote_port\":80,\"pid\":1,\"comm\":\"cli\",\"netns\":";
  const std::string a =
      "{\"type\":\"accept\",\"local_ip\":\"127.0.0.1\",\"local_port\":80,"
      "\"remote_ip\":\"127.0.0.1\",\"remote_port\":5000,\"pid\":2,\"comm\":\"srv\",\"netns\":";
  // Same tuple in two pods (netns 1 and 2): each pairs inside its own pod.
  Graph g = build({c + "1}", a + "2}", a + "1}", c + "2}"});
  EXPECT_EQ(g.stats.matched, 2u);
  EXPECT_EQ(g.stats.unmatched_connects + g.stats.unmatched_accepts, 0u);
  // Different hosts never pair on loopback.
  Graph h = build_hosts({{"web1", "127.0.0.1:80<-127.0.0.1:5000|PID=1 CMD=cli"},
                         {"web2", "127.0.0.1:5000->127.0.0.1:80|PID=2 CMD=srv"}});
  EXPECT_EQ(h.stats.matched, 0u);
}

// One loopback 4-tuple alive at once in two network namespaces of one host,
// both connects before either accept, read from arrow lines (which carry no
// namespace): client A in the first, client B in the second, then the
// accepts of server A' and server B' in the same order. Neither end can tell
// which connect an accept belongs to. The pairing must keep the order (A
// with A', B with B') and must not pass either pair off as sure: both edges
// are marked ambiguous, and counted as such.
TEST(Pairing, OneLoopbackTupleInTwoNamespacesPairsInOrderAndIsMarkedAmbiguous) {
  Graph g = build({"127.0.0.1:8080<-127.0.0.1:40000|PID=100 CMD=client-a",
                   "127.0.0.1:8080<-127.0.0.1:40000|PID=200 CMD=client-b",
                   "127.0.0.1:40000->127.0.0.1:8080|PID=101 CMD=server-a",
                   "127.0.0.1:40000->127.0.0.1:8080|PID=201 CMD=server-b"});
  std::multiset<std::string> got;
  for (const Edge& e : g.edges)
    got.insert(g.nodes[e.from].name + " -> " + g.nodes[e.to].name +
               (e.matched ? "" : " unmatched") + (e.ambiguous ? " ambiguous" : " sure"));
  EXPECT_EQ(got, (std::multiset<std::string>{"client-a -> server-a ambiguous",
                                             "client-b -> server-b ambiguous"}));
  EXPECT_EQ(g.stats.matched, 2u);
  EXPECT_EQ(g.stats.ambiguous, 2u);
  EXPECT_EQ(g.stats.unmatched_connects + g.stats.unmatched_accepts, 0u);
  // The ambiguous edges are drawn apart from sure ones.
  const std::string dot = dot_text(g);
  EXPECT_NE(dot.find("dotted"), std::string::npos) << dot;
  // With the namespaces known (JSON lines), the same interleaving is sure.
  const std::string c = "{\"type\":\"connect\",\"local_ip\":\"127.0.0.1\",\"local_port\":40000,"
                        "\"remote_ip\":\"127.0.0.1\",\"remote_port\":8080,";
  const std::string a = "{\"type\":\"accept\",\"local_ip\":\"127.0.0.1\",\"local_port\":8080,"
                        "\"remote_ip\":\"127.0.0.1\",\"remote_port\":40000,";
  Graph j = build({c + "\"pid\":100,\"comm\":\"client-a\",\"netns\":1}",
                   c + "\"pid\":200,\"comm\":\"client-b\",\"netns\":2}",
                   a + "\"pid\":101,\"comm\":\"server-a\",\"netns\":1}",
                   a + "\"pid\":201,\"comm\":\"server-b\",\"netns\":2}"});
  EXPECT_EQ(edges(j), (std::multiset<std::string>{"client-a -> server-a :8080 x1",
                                                  "client-b -> server-b :8080 x1"}));
  EXPECT_EQ(j.stats.ambiguous, 0u);
  for (const Edge& e : j.edges)
    EXPECT_FALSE(e.ambiguous);
}

// Ends still waiting at the end go out in the order they came, whatever order
// the map holding them keeps: the output order is the input's by
// construction (sequence numbers), not by a hash that happens to keep it.
TEST(Order, LeftoverEndsComeOutInTheOrderTheyCame) {
  std::vector<std::string> lines, want;
  for (int i = 0; i < 60; ++i) {
    // Connects to outside peers that never answer, accepts from outside
    // clients, and a pair that does pair between them.
    const std::string peer =
        "198.51." + std::to_string(100 - i) + "." + std::to_string(i * 7 % 250 + 1);
    if (i % 3 == 0) {
      lines.push_back(peer + ":" + std::to_string(1000 + i) + "->10.0.0.1:22|PID=20 CMD=sshd");
      want.push_back(peer + " -> sshd");
    } else {
      lines.push_back(peer + ":443<-10.0.0.2:" + std::to_string(30000 + i) + "|PID=10 CMD=curl");
      want.push_back("curl -> " + peer + ":443");
    }
    lines.push_back("10.0.0.1:80<-10.0.0.2:" + std::to_string(40000 + i) + "|PID=10 CMD=curl");
    lines.push_back("10.0.0.2:" + std::to_string(40000 + i) + "->10.0.0.1:80|PID=30 CMD=nginx");
  }
  Graph g = build(lines);
  std::vector<std::string> got;
  for (const Edge& e : g.edges)
    if (!e.matched)
      got.push_back(g.nodes[e.from].name + " -> " + g.nodes[e.to].name);
  EXPECT_EQ(got, want);
  // Outside nodes too: in the order their ends came.
  std::vector<std::string> outside, want_outside;
  for (const Node& n : g.nodes)
    if (n.external)
      outside.push_back(n.name);
  for (const std::string& w : want)
    want_outside.push_back(w.starts_with("curl -> ") ? w.substr(8) : w.substr(0, w.find(' ')));
  EXPECT_EQ(outside, want_outside);
}

TEST(Pairing, AcrossHostsOnRealAddresses) {
  Graph g = build_hosts({{"web1", "10.0.0.9:5432<-10.0.0.5:40000|PID=10 CMD=app"},
                         {"db1", "10.0.0.5:40000->10.0.0.9:5432|PID=20 CMD=postgres"}});
  EXPECT_EQ(edges(g), (std::multiset<std::string>{"app -> postgres :5432 x1"}));
  EXPECT_EQ(g.hosts.size(), 2u);
  EXPECT_EQ(g.nodes[g.edges[0].from].host, "web1");
  EXPECT_EQ(g.nodes[g.edges[0].to].host, "db1");
}

TEST(Nodes, PidReuseAndSeveralAddressesDoNotMergeOrCrash) {
  Graph g = build({"10.0.0.1:80<-10.0.0.2:40000|PID=10 CMD=first",
                   "10.0.0.2:40000->10.0.0.1:80|PID=20 CMD=server",
                   // pid 10 reused by another program
                   "10.0.0.1:80<-10.0.0.2:40001|PID=10 CMD=second",
                   "10.0.0.2:40001->10.0.0.1:80|PID=20 CMD=server",
                   // the server also answers on loopback
                   "127.0.0.1:80<-127.0.0.1:40002|PID=10 CMD=first",
                   "127.0.0.1:40002->127.0.0.1:80|PID=20 CMD=server"});
  EXPECT_EQ(edges(g),
            (std::multiset<std::string>{"first -> server :80 x2", "second -> server :80 x1"}));
  for (const Node& n : g.nodes) {
    if (n.name == "server") {
      EXPECT_NE(n.label.find("127.0.0.1"), std::string::npos) << n.label;
    }
  }
}

// A JSON host name may hold any byte, NUL included: the label's pid must not
// be read back out of a key that the NUL cuts short.
TEST(Nodes, PidLabelSurvivesANulInTheHostName) {
  Graph g = build(std::vector<std::string>{
      "{\"type\":\"connect\",\"host\":\"a\\\\x00b\",\"local_ip\":\"10.0.0.2\",\"local_port\":4000,"
      "\"remote_ip\":\"10.0.0.1\",\"remote_port\":80,\"pid\":77,\"comm\":\"curl\"}"});
  ASSERT_EQ(g.hosts.size(), 1u);
  EXPECT_EQ(g.hosts[0], std::string("a\0b", 3));
  bool found = false;
  for (const Node& n : g.nodes)
    if (n.name == "curl") {
      found = true;
      EXPECT_NE(n.label.find("pid 77"), std::string::npos) << n.label;
    }
  EXPECT_TRUE(found);
}

TEST(Nodes, SeveralProcessesOnOneReusePortListener) {
  Graph g = build(
      {"10.0.0.1:80<-10.0.0.2:1|PID=10 CMD=cli", "10.0.0.2:1->10.0.0.1:80|PID=21 CMD=worker",
       "10.0.0.1:80<-10.0.0.2:2|PID=10 CMD=cli", "10.0.0.2:2->10.0.0.1:80|PID=22 CMD=worker"});
  EXPECT_EQ(edges(g), (std::multiset<std::string>{"cli -> worker :80 x1", "cli -> worker :80 x1"}));
  GraphOptions by_comm;
  by_comm.group_by = GroupBy::Comm;
  EXPECT_EQ(
      edges(build(
          {"10.0.0.1:80<-10.0.0.2:1|PID=10 CMD=cli", "10.0.0.2:1->10.0.0.1:80|PID=21 CMD=worker",
           "10.0.0.1:80<-10.0.0.2:2|PID=10 CMD=cli", "10.0.0.2:2->10.0.0.1:80|PID=22 CMD=worker"},
          by_comm)),
      (std::multiset<std::string>{"cli -> worker :80 x2"}));
}

TEST(Filters, IncludeExcludeMinCountNoLoopbackPerConnection) {
  std::vector<std::string> lines = {
      "10.0.0.1:80<-10.0.0.2:1|PID=10 CMD=curl", "10.0.0.2:1->10.0.0.1:80|PID=20 CMD=nginx",
      "10.0.0.1:80<-10.0.0.2:2|PID=10 CMD=curl", "10.0.0.2:2->10.0.0.1:80|PID=20 CMD=nginx",
      "127.0.0.1:53<-127.0.0.1:3|PID=30 CMD=resolver"};
  GraphOptions o;
  o.include = "^ngi";
  EXPECT_EQ(edges(build(lines, o)), (std::multiset<std::string>{"curl -> nginx :80 x2"}));
  o = {};
  o.exclude = "curl";
  EXPECT_EQ(edges(build(lines, o)),
            (std::multiset<std::string>{"resolver -> 127.0.0.1:53 :53 x1"}));
  o = {};
  o.min_count = 2;
  EXPECT_EQ(edges(build(lines, o)), (std::multiset<std::string>{"curl -> nginx :80 x2"}));
  o = {};
  o.no_loopback = true;
  EXPECT_EQ(edges(build(lines, o)), (std::multiset<std::string>{"curl -> nginx :80 x2"}));
  o = {};
  o.per_connection = true;
  o.no_loopback = true;
  EXPECT_EQ(build(lines, o).edges.size(), 2u);
  o = {};
  o.include = "(unclosed";
  EXPECT_THROW(GraphBuilder{o}, std::invalid_argument);
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

// NAT (issue 16): "client -> server :port xN via SERVICE" for every edge.
std::multiset<std::string> nat_edges(const Graph& g) {
  std::multiset<std::string> out;
  for (const Edge& e : g.edges)
    out.insert(g.nodes[e.from].name + " -> " + g.nodes[e.to].name + " :" + std::to_string(e.port) +
               " x" + std::to_string(e.count) + (e.matched ? "" : " unmatched") +
               (e.via.empty() ? "" : " via " + e.via));
  return out;
}

// A Kubernetes node: pods reach CoreDNS through its ClusterIP; the node's
// conntrack says where each went (nettrace --nat).
const std::vector<std::string> kNatArrow = {
    "10.43.0.10:53<-10.42.0.5:50392|PID=2101 CMD=app",
    "# nat remote=10.42.0.3:53",
    "10.42.0.5:50392->10.42.0.3:53|PID=1800 CMD=coredns",
    "# nat local=10.43.0.10:53",
    // The accept first, the connect after it.
    "10.42.0.5:50394->10.42.0.3:53|PID=1800 CMD=coredns",
    "10.43.0.10:53<-10.42.0.5:50394|PID=2101 CMD=app",
    "# nat remote=10.42.0.3:53",
    // Masqueraded: the server sees the node's address and another port.
    "10.43.0.1:443<-10.42.0.5:41000|PID=2101 CMD=app",
    "# nat remote=10.0.0.2:6443 local=10.0.0.9:61000",
    "10.0.0.9:61000->10.0.0.2:6443|PID=900 CMD=apiserver",
};

TEST(Nat, MarkersPairTheClientWithTheServerThroughTheService) {
  Graph g = build(kNatArrow);
  EXPECT_EQ(nat_edges(g),
            (std::multiset<std::string>{"app -> coredns :53 x2 via 10.43.0.10:53",
                                        "app -> apiserver :6443 x1 via 10.43.0.1:443"}));
  EXPECT_EQ(g.stats.matched, 3u);
  EXPECT_EQ(g.stats.unmatched_connects + g.stats.unmatched_accepts, 0u);
  EXPECT_EQ(g.nodes.size(), 3u); // no node for a service address
  // Without the markers (nettrace without --nat) nothing pairs: the old picture.
  std::vector<std::string> plain;
  for (const std::string& l : kNatArrow)
    if (l.rfind("# nat ", 0) != 0)
      plain.push_back(l);
  Graph old = build(plain);
  EXPECT_EQ(old.stats.matched, 0u);
}

TEST(Nat, JsonFieldsPairTheSameAndOneFilePerHostToo) {
  // The same connections as JSON, the client and the servers on three hosts.
  const std::string head = R"({"type":"connect","direction":"out","family":4,)";
  const std::vector<std::pair<std::string, std::string>> lines = {
      {"node-a",
       head +
           R"("local_ip":"10.42.0.5","local_port":50392,"remote_ip":"10.43.0.10","remote_port":53,"pid":2101,"comm":"app","nat_remote_ip":"10.42.0.3","nat_remote_port":53})"},
      {"node-a",
       head +
           R"("local_ip":"10.42.0.5","local_port":41000,"remote_ip":"10.43.0.1","remote_port":443,"pid":2101,"comm":"app","nat_remote_ip":"10.0.0.2","nat_remote_port":6443,"nat_local_ip":"10.0.0.9","nat_local_port":61000})"},
      {"node-b",
       R"({"type":"accept","direction":"in","family":4,"local_ip":"10.42.0.3","local_port":53,"remote_ip":"10.42.0.5","remote_port":50392,"pid":1800,"comm":"coredns"})"},
      {"server",
       R"({"type":"accept","direction":"in","family":4,"local_ip":"10.0.0.2","local_port":6443,"remote_ip":"10.0.0.9","remote_port":61000,"pid":900,"comm":"apiserver"})"},
  };
  Graph g = build_hosts(lines);
  EXPECT_EQ(nat_edges(g),
            (std::multiset<std::string>{"app -> coredns :53 x1 via 10.43.0.10:53",
                                        "app -> apiserver :6443 x1 via 10.43.0.1:443"}));
  EXPECT_EQ(g.hosts.size(), 3u);
}

// Only the server's host knew the translation (a NodePort reached through the
// server's node from a client host that saw no NAT): the accept's translation
// pairs them, whichever record comes first, in arrow and in JSON.
TEST(Nat, AnAcceptsTranslationPairsAClientThatSawNone) {
  const std::string connect = "10.0.0.9:30080<-10.1.0.5:40000|PID=10 CMD=client";
  const std::vector<std::string> accept = {"10.0.0.9:61000->10.42.0.3:8080|PID=20 CMD=server",
                                           "# nat remote=10.1.0.5:40000 local=10.0.0.9:30080"};
  const std::string accept_json =
      R"({"type":"accept","direction":"in","family":4,"local_ip":"10.42.0.3","local_port":8080,"remote_ip":"10.0.0.9","remote_port":61000,"pid":20,"comm":"server","nat_remote_ip":"10.1.0.5","nat_remote_port":40000,"nat_local_ip":"10.0.0.9","nat_local_port":30080})";
  const std::multiset<std::string> want = {"client -> server :8080 x1 via 10.0.0.9:30080"};
  EXPECT_EQ(nat_edges(build({connect, accept[0], accept[1]})), want);
  EXPECT_EQ(nat_edges(build({accept[0], accept[1], connect})), want);
  EXPECT_EQ(nat_edges(build({connect, accept_json})), want);
  EXPECT_EQ(nat_edges(build({accept_json, connect})), want);
  // Without the accept's translation they stay apart.
  Graph g = build({connect, accept[0]});
  EXPECT_EQ(g.stats.matched, 0u);
}

// The closes of a translated connection count on its edge: the client's close
// carries the translation as its connect did ('# nat' after '# close', or the
// JSON fields).
TEST(Nat, ClosesOfATranslatedConnectionCountOnItsEdge) {
  const std::string life = "duration_ns=1000 bytes_sent=10 bytes_received=20 retransmits=0 "
                           "srtt_us=1 closed_by=local last_pid=2101 last_comm=app ";
  const std::string srv_life = "duration_ns=900 bytes_sent=20 bytes_received=10 retransmits=0 "
                               "srtt_us=1 closed_by=peer last_pid=1800 last_comm=coredns ";
  Graph g = build({"10.43.0.10:53<-10.42.0.5:50392|PID=2101 CMD=app", "# nat remote=10.42.0.3:53",
                   "10.42.0.5:50392->10.42.0.3:53|PID=1800 CMD=coredns",
                   "# close " + life + "10.43.0.10:53<-10.42.0.5:50392|PID=2101 CMD=app",
                   "# nat remote=10.42.0.3:53",
                   "# close " + srv_life + "10.42.0.5:50392->10.42.0.3:53|PID=1800 CMD=coredns"});
  ASSERT_EQ(g.edges.size(), 1u);
  EXPECT_EQ(g.edges[0].via, "10.43.0.10:53");
  EXPECT_EQ(g.edges[0].closed, 1u);
  EXPECT_EQ(g.edges[0].bytes_to_server, 10u);
  EXPECT_EQ(g.edges[0].bytes_to_client, 20u);
  EXPECT_EQ(g.stats.lives_unattributed, 0u);
  // The same in JSON.
  const std::string json_life =
      R"("duration_ns":1000,"bytes_sent":10,"bytes_received":20,"retransmits":0,"srtt_us":1,"closed_by":"local","last_pid":2101,"last_comm":"app")";
  Graph j = build({
      R"({"type":"connect","direction":"out","family":4,"local_ip":"10.42.0.5","local_port":50392,"remote_ip":"10.43.0.10","remote_port":53,"pid":2101,"comm":"app","nat_remote_ip":"10.42.0.3","nat_remote_port":53})",
      R"({"type":"accept","direction":"in","family":4,"local_ip":"10.42.0.3","local_port":53,"remote_ip":"10.42.0.5","remote_port":50392,"pid":1800,"comm":"coredns"})",
      R"({"type":"close","direction":"out","family":4,"local_ip":"10.42.0.5","local_port":50392,"remote_ip":"10.43.0.10","remote_port":53,"pid":2101,"comm":"app","nat_remote_ip":"10.42.0.3","nat_remote_port":53,)" +
          json_life + "}",
      R"({"type":"close","direction":"in","family":4,"local_ip":"10.42.0.3","local_port":53,"remote_ip":"10.42.0.5","remote_port":50392,"pid":1800,"comm":"coredns",)" +
          json_life + "}",
  });
  ASSERT_EQ(j.edges.size(), 1u);
  EXPECT_EQ(j.edges[0].closed, 1u);
  EXPECT_EQ(j.stats.lives_unattributed, 0u);
}

TEST(Nat, WhatCannotPairSaysWhereItWentAndStrayMarkersChangeNothing) {
  Graph g = build({
      "# nat remote=10.9.9.9:1", // before any line: nothing to apply to
      // A backend on a host that was not traced: drawn to its real address.
      "10.43.0.20:80<-10.42.0.5:41010|PID=2101 CMD=app",
      "# nat remote=10.42.1.7:8080",
      // Behind a load balancer outside the traced hosts: no translation known.
      "203.0.113.10:443<-10.42.0.5:41020|PID=2101 CMD=app",
      // A marker after a line that is not a connection end applies to nothing.
      "10.42.0.6:81<-10.42.0.5:41040|PID=2101 CMD=app",
      "# failed ECONNREFUSED 10.42.0.6:82<-10.42.0.5:41050|PID=2101 CMD=app",
      "# nat remote=10.9.9.9:2",
      // A marker after an end that already paired changes nothing.
      "10.42.0.6:80<-10.42.0.5:41030|PID=2101 CMD=app",
      "10.42.0.5:41030->10.42.0.6:80|PID=77 CMD=web",
      "# nat remote=10.9.9.9:1",
  });
  EXPECT_EQ(nat_edges(g), (std::multiset<std::string>{
                              "app -> 10.42.1.7:8080 :8080 x1 unmatched via 10.43.0.20:80",
                              "app -> 203.0.113.10:443 :443 x1 unmatched",
                              "app -> 10.42.0.6:81 :81 x1 unmatched", "app -> web :80 x1"}));
}

TEST(Lost, MarkersMakeTheGraphIncomplete) {
  Graph g =
      build(std::vector<std::string>{"# lost 7 events: ring buffer full (raise --ringbuf-size)",
                                     "10.0.0.1:80<-10.0.0.2:1|PID=10 CMD=curl"});
  EXPECT_TRUE(g.incomplete());
  EXPECT_EQ(g.stats.lost, 7u);
  std::string dot = dot_text(g);
  EXPECT_NE(dot.find("incomplete"), std::string::npos) << dot;
}

// Close and open records (nettrace --close): each connection's two ends pair
// like connects and accepts and count on its edge: payload bytes each way
// (what each end received), closed and still-open connections, durations.
// An end whose peer's record never came still counts, from its own bytes;
// a close without owner counts nowhere but in the stats.
TEST(Lives, ClosesAndOpenRecordsCountOnTheirConnectionsEdge) {
  const std::string c1 = "10.0.0.1:5432<-10.0.0.2:40000|PID=10 CMD=psql";
  const std::string a1 = "10.0.0.2:40000->10.0.0.1:5432|PID=20 CMD=postgres";
  const std::string c2 = "10.0.0.1:5432<-10.0.0.2:40001|PID=10 CMD=psql";
  const std::string a2 = "10.0.0.2:40001->10.0.0.1:5432|PID=20 CMD=postgres";
  auto life = [](const char* kind, const char* by, uint64_t dur, uint64_t sent, uint64_t recv,
                 const std::string& line) {
    return std::string("# ") + kind + " duration_ns=" + std::to_string(dur) +
           " bytes_sent=" + std::to_string(sent) + " bytes_received=" + std::to_string(recv) +
           " retransmits=0 srtt_us=1 closed_by=" + by + " last_pid=0 last_comm= " + line;
  };
  const std::vector<std::string> plain = {c1, a1, c2, a2};
  std::vector<std::string> lines = plain;
  lines.push_back(life("close", "local", 3000, 1048576, 10240, c1));
  lines.push_back(life("close", "peer", 2000, 10240, 1048576, a1));
  lines.push_back(life("open", "unknown", 500, 100, 50, c2)); // the server's never came
  lines.push_back("# close duration_ns=1 bytes_sent=1 bytes_received=1 retransmits=0 srtt_us=1 "
                  "closed_by=peer_reset last_pid=0 last_comm= errno=104 owner=evicted "
                  "10.0.0.1:5432<-10.0.0.2:40009|PID=0 CMD=");
  Graph g = build(lines);
  ASSERT_EQ(g.edges.size(), 1u);
  const Edge& e = g.edges[0];
  EXPECT_EQ(e.count, 2u);
  EXPECT_EQ(e.closed, 1u);
  EXPECT_EQ(e.still_open, 1u);
  EXPECT_EQ(e.bytes_to_server, 1048576u + 100u);
  EXPECT_EQ(e.bytes_to_client, 10240u + 50u);
  EXPECT_EQ(max_duration(e), 3000u);
  EXPECT_EQ(median_duration(e), 500u);
  EXPECT_EQ(g.stats.lives, 4u);
  EXPECT_EQ(g.stats.lives_unattributed, 1u);
  std::string dot = dot_text(g);
  // cgraph folds long strings with a backslash-newline: unfold them.
  for (size_t at; (at = dot.find("\\\n")) != std::string::npos;)
    dot.erase(at, 2);
  EXPECT_NE(dot.find("label=\":5432 x2, 1.06 MB\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("(1 closed, 1 open at the end), 1.05 MB to the server, 10.3 kB back, lived "
                     "500 ns (median), 3 us (max)"),
            std::string::npos)
      << dot;
  EXPECT_EQ(dot.find("penwidth"), std::string::npos);
  g.weight = Graph::Weight::Bytes;
  EXPECT_NE(dot_text(g).find("penwidth"), std::string::npos);
  const std::string json = to_json(g);
  EXPECT_NE(json.find("\"bytes_to_server\": 1048676"), std::string::npos) << json;
  EXPECT_NE(json.find("\"open\": 1"), std::string::npos) << json;
  // Without close records: the graph of the connects and accepts, as before.
  Graph before = build(plain);
  EXPECT_EQ(dot_text(before), [&] {
    Graph again = build(plain);
    return dot_text(again);
  }());
  EXPECT_EQ(to_json(before).find("closed"), std::string::npos);
  EXPECT_EQ(dot_text(before).find("MB"), std::string::npos);
}

// A forking server accepts in the listener and serves in a child; the
// server end's close names the child (last_pid): the connection is drawn to
// it, and the listener keeps only the connections it served itself.
TEST(Lives, AConnectionClosedByAnotherProcessIsDrawnToIt) {
  const std::string c1 = "10.0.0.1:22<-10.0.0.2:40000|PID=10 CMD=ssh";
  const std::string a1 = "10.0.0.2:40000->10.0.0.1:22|PID=20 CMD=sshd";
  const std::string c2 = "10.0.0.1:22<-10.0.0.2:40001|PID=10 CMD=ssh";
  const std::string a2 = "10.0.0.2:40001->10.0.0.1:22|PID=20 CMD=sshd";
  auto close = [](const char* by, const char* last, const std::string& line) {
    return std::string("# close duration_ns=5 bytes_sent=1 bytes_received=2 retransmits=0 "
                       "srtt_us=1 closed_by=") +
           by + " " + last + " " + line;
  };
  Graph g = build({c1, a1, c2, a2, close("peer", "last_pid=10 last_comm=ssh", c1),
                   close("local", "last_pid=21 last_comm=sshd-worker", a1),
                   close("peer", "last_pid=10 last_comm=ssh", c2),
                   close("local", "last_pid=20 last_comm=sshd", a2)});
  EXPECT_EQ(edges(g),
            (std::multiset<std::string>{"ssh -> sshd :22 x1", "ssh -> sshd-worker :22 x1"}));
  EXPECT_EQ(g.stats.moved_to_closer, 1u);
  for (const Edge& e : g.edges)
    EXPECT_EQ(e.closed, 1u);
}

// Issue 13: with start_ns a process is (pid, start), so the pid of a closer,
// whose start the close record does not carry, is the newest process of that
// pid already drawn, not a node of its own.
TEST(Lives, ACloserOfAKnownPidIsThatProcessWhenTheTraceHasStartTimes) {
  auto end = [](const char* type, int lport, int rport, int pid, const char* comm, int start,
                const char* extra) {
    return std::string(R"({"type":")") + type + R"(","direction":")" +
           (lport == 22 ? "in" : "out") + R"(","local_ip":"10.0.0.)" + (lport == 22 ? "1" : "2") +
           R"(","local_port":)" + std::to_string(lport) + R"(,"remote_ip":"10.0.0.)" +
           (lport == 22 ? "2" : "1") + R"(","remote_port":)" + std::to_string(rport) +
           R"(,"pid":)" + std::to_string(pid) + R"(,"comm":")" + comm + R"(","start_ns":)" +
           std::to_string(start) + "0000000" + extra + "}";
  };
  const char* life = R"(,"duration_ns":5,"bytes_sent":1,"bytes_received":2,"retransmits":0,)"
                     R"("srtt_us":1,"closed_by":"local","last_pid":21,"last_comm":"sshd-worker")";
  const char* client_life = R"(,"duration_ns":5,"bytes_sent":2,"bytes_received":1,"retransmits":0,)"
                            R"("srtt_us":1,"closed_by":"peer","last_pid":10,"last_comm":"ssh")";
  Graph g = build({end("connect", 40000, 22, 10, "ssh", 100, ""),
                   end("accept", 22, 40000, 20, "sshd", 200, ""),
                   // The worker, seen before with its start: it connects out.
                   end("connect", 40001, 53, 21, "sshd-worker", 300, ""),
                   end("close", 22, 40000, 20, "sshd", 200, life),
                   end("close", 40000, 22, 10, "ssh", 100, client_life)});
  size_t workers = 0;
  for (const Node& n : g.nodes)
    workers += !n.external && n.pid == 21;
  EXPECT_EQ(workers, 1u);
  EXPECT_EQ(g.stats.moved_to_closer, 1u);
}

TEST(Lives, ByteAndDurationWords) {
  EXPECT_EQ(byte_words(0), "0 B");
  EXPECT_EQ(byte_words(999), "999 B");
  EXPECT_EQ(byte_words(48000000), "48 MB");
  EXPECT_EQ(byte_words(1234), "1.23 kB");
  EXPECT_EQ(duration_words(950), "950 ns");
  EXPECT_EQ(duration_words(3100000), "3.1 ms");
  EXPECT_EQ(duration_words(2000000000), "2 s");
}

// One trace, one DOT text: host clusters come out in the order the hosts were
// first seen, whatever the heap looked like (cgraph's default IDs are the
// addresses of the interned names, and Graphviz 2.42 writes subgraphs in ID
// order). Names of many lengths land in many allocation size classes, where
// freed chunks are reused out of order.
TEST(Dot, HostClustersComeOutInTheOrderTheHostsWereFirstSeen) {
  std::vector<std::pair<std::string, std::string>> lines;
  std::vector<std::string> hosts;
  for (int i = 0; i < 30; ++i) {
    std::string host = "h" + std::to_string(i) + std::string(size_t((i * 7) % 40), 'x');
    hosts.push_back(host);
    const std::string a = "10.9." + std::to_string(i) + ".1",
                      b = "10.8." + std::to_string(i) + ".1";
    lines.push_back({host, b + ":80<-" + a + ":4000|PID=" + std::to_string(100 + i) + " CMD=c"});
  }
  for (int round = 0; round < 3; ++round) {
    // Churn the heap differently before each build.
    std::vector<std::string> junk;
    for (int i = 0; i < 200 * (round + 1); ++i)
      junk.emplace_back(size_t(20 + (i * 13) % 60), 'j');
    for (size_t i = 0; i < junk.size(); i += 2)
      junk[i].clear(), junk[i].shrink_to_fit();
    std::string dot = dot_text(build_hosts(lines));
    size_t last = 0;
    for (const std::string& h : hosts) {
      size_t at = dot.find("cluster_" + h + "\"");
      if (at == std::string::npos)
        at = dot.find("cluster_" + h + " ");
      ASSERT_NE(at, std::string::npos) << h << "\n" << dot;
      EXPECT_GT(at, last) << "cluster_" << h << " is out of first-seen order (round " << round
                          << ")\n"
                          << dot;
      last = at;
    }
  }
}

TEST(K3s, RecordedTraceGivesTheKnownPairsAndNoServerToClientEdge) {
  std::ifstream in(NT_EXAMPLE_TRACES "/k3s-cluster.trace");
  ASSERT_TRUE(in) << "missing " NT_EXAMPLE_TRACES "/k3s-cluster.trace";
  GraphBuilder b({});
  Record r;
  std::string line;
  while (std::getline(in, line)) {
    if (parse_line(line, r).kind != ParseKind::Record)
      continue;
    b.add(r, "k3s");
  }
  Graph g = b.finish();
  std::multiset<std::string> e = edges(g);
  auto has = [&](const std::string& prefix) {
    for (const auto& s : e)
      if (s.rfind(prefix, 0) == 0)
        return true;
    return false;
  };
  EXPECT_TRUE(has("kubectl -> k3s-server :6443"));
  EXPECT_TRUE(has("k3s-server -> metrics-server :10250"));
  EXPECT_TRUE(has("k3s-server -> coredns :8181"));
  EXPECT_TRUE(has("k3s-server -> traefik :9000"));
  EXPECT_TRUE(has("containerd -> 54.198.86.24:443 :443"));
  // Direction: in every paired edge the target accepted on the edge's port.
  // The recorded servers are never clients of their own clients on that port.
  for (const Edge& edge : g.edges) {
    const std::string& from = g.nodes[edge.from].name;
    const std::string& to = g.nodes[edge.to].name;
    EXPECT_FALSE(from == "metrics-server" && to == "k3s-server") << "server -> client edge";
    EXPECT_FALSE(from == "coredns" && to == "k3s-server" && edge.port == 8181)
        << "server -> client edge";
    EXPECT_FALSE(from == "traefik" && to == "k3s-server") << "server -> client edge";
    EXPECT_FALSE(from == "k3s-server" && to == "kubectl") << "server -> client edge";
  }
  EXPECT_EQ(g.stats.events, 161u);
  EXPECT_EQ(g.stats.matched, 70u);
}

} // namespace
} // namespace nt

namespace nt {
namespace {

TEST(Memory, PendingEndsAreBoundedAndEvictedAsUnmatched) {
  GraphOptions o;
  o.max_pending = 100;
  GraphBuilder b(o);
  Record r;
  // 1000 connects that never pair (peers outside the trace), then one that does.
  for (int i = 0; i < 1000; ++i) {
    std::string line =
        "203.0.113.1:443<-10.0.0.2:" + std::to_string(20000 + i) + "|PID=10 CMD=curl";
    ASSERT_EQ(parse_line(line, r).kind, ParseKind::Record);
    b.add(r, "h");
  }
  ASSERT_EQ(parse_line("10.0.0.1:80<-10.0.0.2:1|PID=10 CMD=curl", r).kind, ParseKind::Record);
  b.add(r, "h");
  ASSERT_EQ(parse_line("10.0.0.2:1->10.0.0.1:80|PID=20 CMD=nginx", r).kind, ParseKind::Record);
  b.add(r, "h");
  Graph g = b.finish();
  EXPECT_GT(g.stats.evicted, 800u);             // most went out early, bounded by max_pending
  EXPECT_EQ(g.stats.unmatched_connects, 1000u); // none was lost: evicted ends still count
  EXPECT_EQ(g.stats.matched, 1u);
  EXPECT_EQ(edges(g), (std::multiset<std::string>{"curl -> 203.0.113.1:443 :443 x1000",
                                                  "curl -> nginx :80 x1"}));
}

} // namespace
} // namespace nt

namespace nt {
namespace {

// netgraph reads plain arrow lines through parse_arrow_view() + add_arrow(),
// which find a process seen before by its text; the result must be exactly
// what parse() + add() give. Both ways over the same inputs, with every
// option that changes what add() does, compared as JSON (nodes in order,
// labels, edges, counts, stats, hosts).
std::string both_ways(const std::vector<std::pair<std::string, std::vector<std::string>>>& inputs,
                      const GraphOptions& o, std::string& general_json) {
  GraphBuilder general(o), fast(o);
  LineParser parser;
  Record r;
  ArrowView v;
  for (const auto& [host, lines] : inputs) {
    uint32_t host_id = UINT32_MAX;
    for (const std::string& line : lines) {
      const bool is_record = parse_line(line, r).kind == ParseKind::Record;
      if (is_record)
        general.add(r, host);
      // As netgraph's reader does: the fast way once the input's host is known.
      if (host_id != UINT32_MAX && parser.parse_arrow_view(line, v) && fast.add_arrow(v, host_id))
        continue;
      if (parser.parse(line, r).kind != ParseKind::Record)
        continue;
      if (host_id == UINT32_MAX && r.host.empty())
        host_id = fast.host_id(host);
      fast.add(r, host_id);
    }
  }
  general_json = to_json(general.finish());
  return to_json(fast.finish());
}

std::vector<std::string> read_trace(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "missing " << path;
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    lines.push_back(line);
  return lines;
}

// A node's first edges are found in a short list, the rest (once it has more)
// in a map: counts and first-seen order must not change at the switch.
TEST(Edges, PastTheShortListTheyStillCountAndKeepTheirOrder) {
  std::vector<std::string> lines;
  for (int round = 0; round < 3; ++round) {
    for (int s = 1; s <= 10; ++s) {
      const std::string server = "10.1.0." + std::to_string(s) + ":80";
      const std::string client = "10.2.0.1:" + std::to_string(40000 + round * 100 + s);
      lines.push_back(server + "<-" + client + "|PID=7 CMD=crawler");
      lines.push_back(client + "->" + server + "|PID=" + std::to_string(100 + s) + " CMD=web" +
                      std::to_string(s));
    }
  }
  Graph g = build(lines);
  ASSERT_EQ(g.edges.size(), 10u);
  for (size_t i = 0; i < g.edges.size(); ++i) {
    EXPECT_EQ(g.nodes[g.edges[i].from].name, "crawler");
    EXPECT_EQ(g.nodes[g.edges[i].to].name, "web" + std::to_string(i + 1));
    EXPECT_EQ(g.edges[i].count, 3u);
  }
}

TEST(FastLane, GivesWhatTheGeneralPathGives) {
  std::vector<std::pair<std::string, std::vector<std::string>>> inputs = {
      {"k3s", read_trace(NT_EXAMPLE_TRACES "/k3s-cluster.trace")},
      {"demo", read_trace(NT_EXAMPLE_TRACES "/demo-netns.trace")},
      {"v6", read_trace(NT_EXAMPLE_TRACES "/ipv6-synthetic.trace")},
      {"web1", read_trace(NT_EXAMPLE_TRACES "/fleet/web1.trace")},
      {"db1", read_trace(NT_EXAMPLE_TRACES "/fleet/db1.trace")},
      {"cache1", read_trace(NT_EXAMPLE_TRACES "/fleet/cache1.trace")},
  };
  // Lines the index of process texts must not shortcut: short and long
  // tails, tails that differ only past 8 bytes or by length, bad tails,
  // escapes, CRLF, the same process on several addresses, loopback, reused
  // tuples, one tuple waiting in two processes at once.
  std::vector<std::string> odd;
  const std::string long_name(40, 'n');
  for (int i = 0; i < 300; ++i) {
    const std::string port = std::to_string(30000 + i);
    odd.push_back("10.9.0.1:80<-10.9.0." + std::to_string(i % 7 + 2) + ":" + port +
                  "|PID=7 CMD=client");
    odd.push_back("10.9.0." + std::to_string(i % 7 + 2) + ":" + port +
                  "->10.9.0.1:80|PID=8 CMD=server");
    odd.push_back("127.0.0.1:80<-127.0.0.1:" + port + "|PID=9 CMD=" + long_name);
    odd.push_back("127.0.0.1:" + port + "->127.0.0.1:80|PID=10 CMD=x");
    odd.push_back("[::1]:443<-[::1]:" + port + "|PID=11 CMD=a\\x20b\r");
    odd.push_back("[::1]:" + port + "->[::1]:443|PID=11 CMD=a\\x20c");
    odd.push_back("10.9.0.1:81<-10.9.0.2:" + port + "|PID=12 CMD=clientA");
    odd.push_back("10.9.0.1:81<-10.9.0.2:" + port + "|PID=12 CMD=clientAB");
    odd.push_back("10.9.0.1:81<-10.9.0.2:" + port + "|PID=1x CMD=bad");
    odd.push_back("10.9.0.1:81<-10.9.0.2:" + port + "|PID=12  CMD=spaces");
    odd.push_back("10.9.0.3:82<-[::ffff:10.9.0.4]:" + port + "|PID=13 CMD=mapped");
  }
  inputs.push_back({"odd", odd});
  inputs.push_back({"odd2", odd}); // the same texts on another host
  // nettrace --nat --close as it came from a live run (issue 16): a '# nat'
  // line after a connect that follows a close's '# nat' is the connect's.
  // (The fast lane once left it on the close, and that connect unpaired.)
  std::vector<std::string> nat;
  const std::string cli = "|PID=27942 CMD=cli", srv = "|PID=27885 CMD=srv";
  const std::string tr = "# nat remote=10.146.1.2:8080";
  auto c = [&](int p) { return "10.96.146.10:80<-10.146.1.1:" + std::to_string(p) + cli; };
  auto a = [&](int p) { return "10.146.1.1:" + std::to_string(p) + "->10.146.1.2:8080" + srv; };
  auto closed = [&](const std::string& line, const char* by) {
    return std::string("# close duration_ns=1 bytes_sent=1 bytes_received=1 retransmits=0 "
                       "srtt_us=1 closed_by=") +
           by + " last_pid=0 last_comm= " + line;
  };
  nat = {c(38064), tr,
         a(38064), c(38074),
         tr,       closed(c(38064), "local"),
         tr,       closed(a(38064), "peer"),
         a(38074), c(38080),
         tr,       closed(c(38074), "local"),
         tr,       closed(a(38074), "peer"),
         a(38080), closed(c(38080), "local"),
         tr,       closed(a(38080), "peer")};
  inputs.push_back({"nat", nat});
  {
    std::string general;
    const std::string fast = both_ways({{"nat", nat}}, {}, general);
    EXPECT_EQ(fast, general);
    EXPECT_NE(general.find("\"count\": 3,"), std::string::npos) << general; // one edge of three
  }
  for (GroupBy g :
       {GroupBy::Pid, GroupBy::Comm, GroupBy::Host, GroupBy::Address, GroupBy::Service}) {
    for (int variant = 0; variant < 3; ++variant) {
      GraphOptions o;
      o.group_by = g;
      o.no_loopback = variant == 1;
      o.per_connection = variant == 2;
      o.max_pending = variant == 2 ? 64 : o.max_pending; // evictions too
      std::string general;
      const std::string fast = both_ways(inputs, o, general);
      EXPECT_GT(general.size(), 1000u);
      EXPECT_EQ(fast, general) << "group_by " << int(g) << " variant " << variant;
    }
  }
}

} // namespace
} // namespace nt

#include <unistd.h>

#include <cstdio>

#include "graph/reader.h"

namespace nt {
namespace {

struct Seen {
  std::string line;
  uint64_t lineno;
  bool overlong;
  bool operator==(const Seen&) const = default;
};

// What read_lines must hand out for `data`: every '\n'-ended line, and a last
// line without one, each with its number; past max_line only counted.
std::vector<Seen> expected_lines(const std::string& data, size_t max_line) {
  std::vector<Seen> out;
  size_t start = 0;
  uint64_t n = 0;
  while (start < data.size()) {
    size_t nl = data.find('\n', start);
    const size_t stop = nl == std::string::npos ? data.size() : nl;
    const std::string line = data.substr(start, stop - start);
    ++n;
    if (line.size() > max_line)
      out.push_back({"", n, true});
    else
      out.push_back({line, n, false});
    start = stop + 1;
  }
  return out;
}

// Collects lines one by one (the default on_lines()), or, with blocks, also
// checks each block read_lines hands to on_lines() before splitting it.
struct Collect : LineConsumer {
  bool blocks = false;
  std::vector<Seen> seen;
  uint64_t block_calls = 0;
  void on_line(std::string_view line, uint64_t lineno, bool overlong) override {
    seen.push_back({std::string(line), lineno, overlong});
  }
  void on_lines(const char* begin, const char* end, size_t max_line, uint64_t& lineno) override {
    ++block_calls;
    EXPECT_LT(begin, end);
    EXPECT_EQ(end[-1], '\n'); // whole lines only
    LineConsumer::on_lines(begin, end, max_line, lineno);
  }
};

std::vector<Seen> read_all(const std::string& data, size_t max_line, uint64_t* block_calls) {
  char path[] = "/tmp/nt_reader_test_XXXXXX";
  const int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, data.data(), data.size()), ssize_t(data.size()));
  lseek(fd, 0, SEEK_SET);
  unlink(path);
  Collect sink;
  std::string err;
  EXPECT_TRUE(read_lines(fd, max_line, sink, err)) << err;
  close(fd);
  if (block_calls)
    *block_calls = sink.block_calls;
  return sink.seen;
}

// read_lines hands whole lines to on_lines() a read at a time and carries a
// line split across reads (64 KiB each) itself: every line must come out
// once, whole, numbered, wherever the read boundaries fall.
TEST(ReadLines, LinesAcrossReadBoundariesComeOutWholeAndNumbered) {
  for (size_t len : {1, 54, 55, 63, 64, 65, 4095, 70000}) {
    std::string data;
    for (int i = 0; data.size() < (3u << 16) + 100; ++i) {
      std::string line(len + size_t(i % 7), char('a' + i % 26));
      if (i % 5 == 0)
        line += '\r'; // CRLF: the '\r' is the line's, as before
      data += line + '\n';
    }
    data += "last line without a newline";
    uint64_t blocks = 0;
    const auto seen = read_all(data, 1 << 20, &blocks);
    EXPECT_EQ(seen, expected_lines(data, 1 << 20)) << "line length " << len;
    if (len < 1000) {
      EXPECT_GE(blocks, 3u); // the lines came in blocks, not one by one
    }
  }
}

TEST(ReadLines, OverlongLinesAreCountedInBlocksAndAcrossReads) {
  std::string data;
  for (size_t len : {10, 200, 10, 100000, 99, 100, 101, 5, 300000, 7})
    data += std::string(len, 'x') + '\n';
  data += std::string(150, 'y'); // overlong, and no final newline
  EXPECT_EQ(read_all(data, 100, nullptr), expected_lines(data, 100));
  data += "\n\n";
  EXPECT_EQ(read_all(data, 100, nullptr), expected_lines(data, 100));
}

// netgraph's reader finds each line's end from the line's start, 64 bytes at
// a look, past the end of the line (the read buffer is padded): every end
// must be found, at every distance from the start and across the looks.
TEST(ReadLines, NextNewlineFindsEveryLineEndFromItsStart) {
  std::string buf;
  std::vector<size_t> ends;
  for (size_t len = 0; len < 300; ++len) {
    buf.append(len, char('a' + len % 26));
    if (len % 3 == 0 && len > 0)
      buf.back() = '\r'; // a '\r' before the '\n' is the line's own byte
    ends.push_back(buf.size());
    buf.push_back('\n');
  }
  const size_t data = buf.size();
  buf.append(64, '\n'); // padding, as the reader's: never reached
  const char* p = buf.data();
  for (size_t want : ends) {
    const char* nl = next_newline(p);
    ASSERT_EQ(size_t(nl - buf.data()), want);
    p = nl + 1;
  }
  EXPECT_EQ(size_t(p - buf.data()), data);
}

TEST(ReadLines, EmptyLinesAndEmptyInput) {
  EXPECT_EQ(read_all("", 100, nullptr), expected_lines("", 100));
  EXPECT_EQ(read_all("\n\n\na\n\n", 100, nullptr), expected_lines("\n\n\na\n\n", 100));
}

} // namespace
} // namespace nt
