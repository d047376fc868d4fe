#include "web/view.h"

#include <algorithm>
#include <cmath>
#include <ctime>

#include <nlohmann/json.hpp>

#include "trace/format.h"
#include "trace/kinds.h"

namespace nt {
namespace {

using Json = nlohmann::json;

std::string escaped(std::string_view raw) {
  std::string out;
  append_escaped_comm(out, raw);
  return out;
}

std::string endpoint_text(const Endpoint& e) {
  std::string out;
  append_endpoint(out, e);
  return out;
}

uint64_t wall_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

// The file name of a path: "/usr/sbin/nginx" -> "nginx".
std::string_view base_name(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Every identity field the node's processes agree on (the first seen wins).
void merge(Identity& into, const Identity& from) {
  auto fill = [](std::string& a, const std::string& b) {
    if (a.empty())
      a = b;
  };
  fill(into.comm, from.comm);
  fill(into.exe, from.exe);
  fill(into.cmdline, from.cmdline);
  fill(into.container, from.container);
  fill(into.pod, from.pod);
  fill(into.unit, from.unit);
  if (!into.ppid)
    into.ppid = from.ppid;
  if (!into.start_ns)
    into.start_ns = from.start_ns;
  if (!into.pid)
    into.pid = from.pid;
}

} // namespace

Identity identity_of(const Record& r) {
  Identity id;
  id.pid = r.pid;
  id.comm = escaped(r.comm);
  // Issue 13's identity: raw bytes from /proc and the cgroup path, escaped
  // like comm (the page then sets them as text, never as markup).
  id.ppid = r.ppid;
  id.start_ns = r.start_ns;
  id.exe = escaped(r.exe);
  id.cmdline = escaped(r.cmdline);
  id.container = escaped(r.container);
  id.pod = escaped(r.pod);
  id.unit = escaped(r.unit);
  return id;
}

NodeLabel node_label(const Node& n, const Identity& id) {
  NodeLabel l;
  if (n.external) {
    l.label = n.addresses.empty() ? n.name : n.addresses.front();
    l.sublabel = "not traced";
    return l;
  }
  l.label = n.name;
  // comm is cut at 15 bytes; the executable's own name says the rest
  // ("kube-controller" is /usr/bin/kube-controller-manager).
  // (The kernel keeps 15 bytes of a name: only a name that long was cut.)
  if (!id.exe.empty()) {
    const std::string_view exe = base_name(id.exe);
    if (l.label.empty() || (l.label.size() >= 15 && exe.size() > l.label.size() &&
                            exe.substr(0, l.label.size()) == l.label))
      l.label = std::string(exe);
  }
  if (n.collapsed())
    l.sublabel = std::to_string(n.pids.size()) + " processes";
  else if (n.pid)
    l.sublabel = "pid " + std::to_string(n.pid);
  const std::string& where = !id.pod.empty()         ? id.pod
                             : !id.container.empty() ? id.container
                                                     : id.unit;
  if (!where.empty()) {
    const char* what = !id.pod.empty() ? "pod " : !id.container.empty() ? "container " : "";
    l.sublabel += (l.sublabel.empty() ? "" : " \u00b7 ") + std::string(what) + where;
  }
  return l;
}

namespace {

struct ConnOut {
  bool out; // connected out (else accepted)
  std::string local, remote;
  uint64_t ts_ns, duration_ns, bytes_sent, bytes_received;
  bool closed, has_bytes;
};

std::string
write_view(const Graph& g, const ViewOptions& o,
           const std::map<std::pair<std::string, uint32_t>, Identity>* ids,
           const std::map<std::pair<std::string, uint32_t>, std::vector<ConnOut>>* conns) {
  Json j;
  j["version"] = 1;
  j["source"] = o.source;
  j["hosts"] = g.hosts;
  j["title"] = title_lines(g);
  j["first_ns"] = g.stats.first_ns;
  j["last_ns"] = g.stats.last_ns;
  j["now_ns"] = o.now_ns ? o.now_ns : g.stats.last_ns;
  j["lost"] = o.lost ? *o.lost : g.stats.lost;
  j["live"] = o.closes_known;
  auto& nodes = j["nodes"] = Json::array();
  for (const Node& n : g.nodes) {
    Identity id;
    std::vector<ConnOut> list;
    std::vector<uint32_t> pids = n.collapsed() ? n.pids : std::vector<uint32_t>{};
    if (!n.collapsed() && n.pid)
      pids.push_back(n.pid);
    for (uint32_t pid : pids) {
      if (ids)
        if (auto it = ids->find({n.host, pid}); it != ids->end())
          merge(id, it->second);
      if (conns)
        if (auto it = conns->find({n.host, pid}); it != conns->end())
          list.insert(list.end(), it->second.begin(), it->second.end());
    }
    if (n.collapsed())
      id.pid = 0;
    std::stable_sort(list.begin(), list.end(),
                     [](const ConnOut& a, const ConnOut& b) { return a.ts_ns > b.ts_ns; });
    if (list.size() > o.max_connections_per_process)
      list.resize(o.max_connections_per_process);
    const NodeLabel label = node_label(n, id);
    Json node = {{"id", n.key},
                 {"kind", n.external      ? "outside"
                          : n.collapsed() ? "group"
                                          : "process"},
                 {"label", label.label},
                 {"sublabel", label.sublabel},
                 {"name", n.name},
                 {"host", n.host},
                 {"addresses", n.addresses}};
    if (n.collapsed())
      node["pids"] = n.pids;
    else if (n.pid)
      node["pid"] = n.pid;
    // Identity: only what is known, so the page shows a field when it is there.
    auto opt = [&](const char* key, const std::string& v) {
      if (!v.empty())
        node[key] = v;
    };
    opt("comm", id.comm);
    opt("exe", id.exe);
    opt("cmdline", id.cmdline);
    opt("container", id.container);
    opt("pod", id.pod);
    opt("unit", id.unit);
    if (id.ppid)
      node["ppid"] = id.ppid;
    if (id.start_ns)
      node["start_ns"] = id.start_ns;
    if (!list.empty()) {
      auto& cs = node["connections"] = Json::array();
      for (const ConnOut& c : list) {
        Json cj = {{"direction", c.out ? "out" : "in"},
                   {"local", c.local},
                   {"remote", c.remote},
                   {"ts_ns", c.ts_ns}};
        if (c.closed) {
          cj["closed"] = true;
          cj["duration_ns"] = c.duration_ns;
        } else {
          cj["open"] = o.closes_known;
        }
        if (c.has_bytes) {
          cj["bytes_sent"] = c.bytes_sent;
          cj["bytes_received"] = c.bytes_received;
        }
        cs.push_back(std::move(cj));
      }
    }
    nodes.push_back(std::move(node));
  }
  auto& edges = j["edges"] = Json::array();
  for (const Edge& e : g.edges) {
    // Open now: live, every connection not yet closed; from a trace, those
    // its open records report at its end.
    const uint64_t open =
        o.closes_known ? (e.count > e.closed ? e.count - e.closed : 0) : e.still_open;
    Json ej = {{"from", g.nodes[e.from].key},
               {"to", g.nodes[e.to].key},
               {"port", e.port},
               {"count", e.count},
               {"matched", e.matched},
               {"open", open},
               {"closed", e.closed},
               {"bytes_to_server", e.bytes_to_server},
               {"bytes_to_client", e.bytes_to_client},
               {"words", edge_words(e)}};
    if (e.ambiguous)
      ej["ambiguous"] = true;
    edges.push_back(std::move(ej));
  }
  // ASCII out, and never an exception for a byte that is not UTF-8: every
  // name is escaped already, but the page must come whatever a record holds.
  return j.dump(-1, ' ', true, Json::error_handler_t::replace);
}

GraphOptions graph_options(const ViewOptions& o) {
  GraphOptions g = o.graph;
  g.min_count = 1; // present() applies it, after collapsing
  return g;
}

} // namespace

ViewBuilder::ViewBuilder(ViewOptions options)
    : options_(std::move(options)), graph_(graph_options(options_)) {}

void ViewBuilder::add(const Record& r, std::string_view host, const Identity& id) {
  graph_.add(r, host);
  const std::string h = r.host.empty() ? std::string(host) : r.host;
  if (r.pid == 0)
    return;
  const bool end = kind_info(r.type).pairs; // a connection end (connect, accept, existing)
  const bool close = r.type == RecordType::Close || r.type == RecordType::Open;
  if (!end && !close)
    return;
  Process& p = processes_[{h, r.pid}];
  merge(p.id, id);
  if (end) {
    Conn c;
    c.out = side_of(r) != Side::In;
    c.local = r.local;
    c.remote = r.remote;
    c.ts_ns = r.time_ns;
    p.conns.push_back(c);
    if (p.conns.size() > options_.max_connections_per_process)
      p.conns.pop_front();
    return;
  }
  // A close (or an open at the trace's end): the bytes of the connection
  // this process made or accepted, if it is among the newest kept.
  for (auto it = p.conns.rbegin(); it != p.conns.rend(); ++it) {
    if (it->closed || it->has_bytes || !(it->local == r.local) || !(it->remote == r.remote))
      continue;
    it->closed = r.type == RecordType::Close;
    it->duration_ns = r.duration_ns;
    it->bytes_sent = r.bytes_sent;
    it->bytes_received = r.bytes_received;
    it->has_bytes = true;
    break;
  }
}

std::string ViewBuilder::finish() {
  Graph g = graph_.finish();
  present(g, options_.graph.group_by, options_.present);
  std::map<std::pair<std::string, uint32_t>, Identity> ids;
  std::map<std::pair<std::string, uint32_t>, std::vector<ConnOut>> conns;
  for (const auto& [key, p] : processes_) {
    ids[key] = p.id;
    auto& list = conns[key];
    for (const Conn& c : p.conns)
      list.push_back(ConnOut{c.out, endpoint_text(c.local), endpoint_text(c.remote), c.ts_ns,
                             c.duration_ns, c.bytes_sent, c.bytes_received, c.closed, c.has_bytes});
  }
  ViewOptions o = options_;
  if (!o.now_ns && o.closes_known)
    o.now_ns = wall_ns();
  return write_view(g, o, &ids, &conns);
}

std::string view_of_graph(Graph g, const ViewOptions& options) {
  return write_view(g, options, nullptr, nullptr);
}

} // namespace nt
