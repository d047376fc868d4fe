// From trace records to a process graph: pairs the two ends of each
// connection on the exact 4-tuple and aggregates edges. Pure logic, no I/O:
// records in, a Graph out.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "trace/parse.h"
#include "trace/record.h"

namespace re2 {
class RE2;
}

namespace nt {

// Exe, Container, Pod, Unit, Cgroup: the identity fields of JSON traces
// (issue 13); processes without the field are one node per host ("no exe").
// Service (issue 16): processes as with Pid, and each service address a
// translated connection went through (NAT) as a node of its own between the
// clients and the servers.
enum class GroupBy : uint8_t {
  Pid,
  Comm,
  Host,
  Address,
  Exe,
  Container,
  Pod,
  Unit,
  Cgroup,
  Service
};

struct GraphOptions {
  GroupBy group_by = GroupBy::Pid;
  bool per_connection = false; // one edge per 4-tuple instead of per (client, server, port)
  bool no_loopback = false;
  std::string include; // RE2 on process names: keep edges with an endpoint that matches
  std::string exclude; // RE2 on process names: drop edges with an endpoint that matches
  uint64_t min_count = 1;
  // Connection ends waiting for their peer, at most, per direction. Past it the
  // oldest half go out as unmatched: memory then follows the graph, not the
  // input (a trace of a million connects to the internet never pairs).
  size_t max_pending = 1 << 20;
};

struct Node {
  std::string key;   // identity within the graph
  std::string label; // DOT label text (already DOT-escaped: "\\n" line breaks)
  std::string host;  // cluster; empty for nodes outside every host
  std::string name;  // process name (escaped), or the address for external nodes; the
                     // exe's name where comm was cut at 15 bytes; with --group-by exe,
                     // container, pod, unit or cgroup that field (escaped)
  uint32_t pid = 0;  // the process, with GroupBy::Pid (labels show it)
  // GroupBy::Pid with a trace that carries the identity (JSON, issue 13): the
  // process start (a reused pid is another node) and where it runs, escaped.
  uint64_t start_ns = 0;
  std::string container, unit;
  bool external = false;
  // --group-by service (issue 16): a service address (`name`) the translated
  // connections went through; not a process, not outside.
  bool service = false;
  // Structured facts behind the label, for JSON and for present(): a process
  // node's local addresses (at most 4, first seen first; what the label
  // lists), or an outside node's address (filled in by present()).
  std::vector<std::string> addresses;
  // A collapsed node (present()): the client processes it stands for, in
  // first-seen order; pid is then 0. Empty for every other node.
  std::vector<uint32_t> pids;
  bool collapsed() const { return !pids.empty(); }
};

struct Edge {
  size_t from = 0, to = 0;
  uint16_t port = 0;        // server port
  uint16_t client_port = 0; // only with per_connection
  uint64_t count = 0;
  bool matched = true; // both ends seen
  // Paired by arrival order among ends the trace cannot tell apart: the same
  // 4-tuple waiting in two processes at once (two network namespaces, seen
  // through arrow lines, which carry no namespace). Drawn dotted with a "?".
  bool ambiguous = false;
  // The connections' lives, from close and open records (nettrace --close or
  // JSON): all zero and empty for a trace without them.
  uint64_t closed = 0, still_open = 0;               // connections closed / open at the trace's end
  uint64_t bytes_to_server = 0, bytes_to_client = 0; // payload bytes each way
  std::vector<uint64_t> durations_ns;                // one per connection whose life was seen
  // NAT (issue 16): the address the clients asked for ("10.43.0.10:53"), when
  // the connections were translated on the way (a Kubernetes service, a
  // published port); empty otherwise. Edges through different ones differ.
  std::string via;
  uint32_t via_id = 0; // the builder's number for `via` (0: none)
  bool has_life() const { return closed || still_open; }
  void add_life(const Edge& o) {
    closed += o.closed;
    still_open += o.still_open;
    bytes_to_server += o.bytes_to_server;
    bytes_to_client += o.bytes_to_client;
    durations_ns.insert(durations_ns.end(), o.durations_ns.begin(), o.durations_ns.end());
  }
};

struct GraphStats {
  // Wall-clock span of the records that carry a time (JSON lines), in ns
  // since the epoch; both 0 when none did (arrow lines carry no time).
  uint64_t first_ns = 0, last_ns = 0;
  uint64_t events = 0, connects = 0, accepts = 0, failed = 0, lost = 0;
  uint64_t matched = 0, unmatched_connects = 0, unmatched_accepts = 0;
  uint64_t evicted = 0;   // pending ends given up on because of max_pending
  uint64_t ambiguous = 0; // of `matched`: pairs made among ends the trace cannot tell apart
  uint64_t lives = 0;     // close and open records read
  uint64_t lives_unattributed = 0; // of those: no edge to count them on (owner unknown, or
                                   // their connection's ends were not both seen)
  uint64_t moved_to_closer = 0;    // connections drawn to the process that closed them
};

struct Graph {
  // In the order first seen (an index is a sequence number): a process node
  // at its first record, an edge at the record that made it, an outside node
  // and its edge when their unpaired end goes out (at its eviction, or in
  // finish() in the ends' arrival order). No map's order shows.
  std::vector<Node> nodes;
  std::vector<Edge> edges;
  std::vector<std::string> hosts;
  GraphStats stats;
  GroupBy group_by = GroupBy::Pid; // what a node is (set by present())
  // Pen width of the edges (netgraph --weight): default width when None.
  enum class Weight : uint8_t { None, Count, Bytes } weight = Weight::None;
  bool incomplete() const { return stats.lost > 0; }
};

class GraphBuilder {
public:
  explicit GraphBuilder(GraphOptions options); // throws std::invalid_argument on a bad regex
  ~GraphBuilder();
  GraphBuilder(const GraphBuilder&) = delete;
  GraphBuilder& operator=(const GraphBuilder&) = delete;

  // `host` names the input the record came from; a record's own host field wins.
  void add(const Record& r, std::string_view host);
  // The same with the input's host resolved once by host_id(): a caller
  // feeding millions of records from one input saves comparing its name each
  // time. host_id() registers the host (graph.hosts, in first-seen order), so
  // call it when the input's first record comes, not before.
  uint32_t host_id(std::string_view host) { return host_index(host); }
  void add(const Record& r, uint32_t host_id);
  // A plain arrow line as LineParser::parse_arrow_view() gives it: the same as
  // add() of the record parse() would give, but a process seen before is
  // found by its text, without reading its pid and name again. False when
  // the tail is not in the plain form: nothing was added, and the caller
  // goes the general way (parse() and add()).
  bool add_arrow(const ArrowView& v, uint32_t host_id);
  // Resolves connections still waiting for their other end and returns the graph.
  Graph finish();

private:
  struct Index; // the lookup tables behind add(), in graph.cpp
  uint32_t host_index(std::string_view host);
  // The node of the process (or what --group-by groups on) that wrote an end.
  // `r`: the record, for the identity its JSON carries (null for arrow lines).
  size_t process_node(uint32_t host, uint32_t pid, std::string_view comm, const IpAddr& local,
                      const Record* r = nullptr);
  // What add() and add_arrow() share, once the record's fields are known.
  void add_event(bool connect, const Endpoint& local, const Endpoint& remote, uint32_t netns,
                 uint32_t host, uint32_t pid, std::string_view comm, const Record* r = nullptr);
  // Pairs one connection end of process `node` (or keeps it waiting).
  void add_end(bool connect, const Endpoint& local, const Endpoint& remote, uint32_t netns,
               uint32_t host, size_t node, uint32_t via = 0);
  size_t external_node(std::string_view key);
  void add_edge(size_t from, size_t to, uint16_t port, uint16_t client_port, bool matched,
                bool ambiguous, uint32_t via = 0);
  // NAT (issue 16): the id of a service address (0: none), and a "# nat"
  // marker applied to the connection end added just before it.
  uint32_t via_id(const Endpoint& service);
  void add_nat(const Record& r);
  // `server_client`, `server_server`: the accept's own tuple; `client`,
  // `server`: the same connection as its client saw it.
  void accept_nat(const Endpoint& server_client, const Endpoint& server_server, uint32_t netns,
                  const Endpoint& client, const Endpoint& server, uint32_t via, uint32_t host);
  // An end that never paired: an edge to or from the outside.
  void flush(bool connect, const Endpoint& client, const Endpoint& server, size_t node,
             uint32_t via = 0);
  void evict_oldest(bool connects);
  // A close or open record: paired with the other end's like connection
  // ends, then counted on the edge of that connection.
  void add_life(const Record& r, uint32_t host);
  Edge* find_edge(size_t from, size_t to, uint16_t port, uint16_t client_port, bool ambiguous,
                  uint32_t via = 0);

  GraphOptions options_;
  std::unique_ptr<re2::RE2> include_, exclude_;
  Graph graph_;
  std::unique_ptr<Index> index_;
  uint64_t seq_ = 0; // arrival number of the next connection end
};

bool is_loopback(const IpAddr& ip);

// DOT label text: a literal backslash is doubled (DOT gives "\n", "\l" and
// friends a meaning); the names are already ASCII (escaped by nt_trace).
void append_dot_text(std::string& out, std::string_view s);

// Removes the nodes no edge touches (after edges were filtered or merged),
// keeping the others in their order and renumbering the edges' ends.
void drop_unused_nodes(Graph& g);

// "48 MB", "1.2 kB", "512 B": decimal units, three significant digits at most.
std::string byte_words(uint64_t bytes);
// "3.1 ms", "2 s", "950 us".
std::string duration_words(uint64_t ns);
// Median and maximum of an edge's durations (0 when none).
uint64_t median_duration(const Edge& e);
uint64_t max_duration(const Edge& e);

} // namespace nt
