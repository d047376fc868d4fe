#include "graph/present.h"

#include <ctime>
#include <map>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "trace/format.h"
#include "trace/parse.h"

namespace nt {
namespace {

// An outside node's name is the address its unmatched ends pointed to: the
// endpoint ("10.0.0.1:443", "[::1]:443") for connects, the address for accepts.
bool outside_address(const std::string& name, IpAddr& ip) {
  Endpoint ep;
  if (parse_ip(name, ip))
    return true;
  if (!parse_endpoint(name, ep))
    return false;
  ip = ep.ip;
  return true;
}

std::string plural(uint64_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

constexpr size_t kShownAddresses = 4;

// "name (N processes)" and the addresses of its members, as a DOT label.
std::string collapsed_label(const Node& n) {
  std::string label;
  append_dot_text(label, n.name);
  label += " (" + std::to_string(n.pids.size()) + " processes)";
  for (size_t a = 0; a < n.addresses.size() && a < kShownAddresses; ++a)
    label += "\\n" + n.addresses[a];
  if (n.addresses.size() > kShownAddresses)
    label += "\\n+" + std::to_string(n.addresses.size() - kShownAddresses) + " more";
  return label;
}

// Draws edges to or from an outside address to the node that owns it.
// Addresses other than loopback are one place in the whole trace, as pairing
// treats them; loopback addresses are every process's on a host and name
// none of them, so ends at those stay outside.
void attach_outside_ends(Graph& g) {
  std::unordered_map<std::string, std::vector<size_t>> owners; // address text -> nodes
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.external)
      continue;
    for (const std::string& text : n.addresses) {
      IpAddr ip;
      if (!parse_ip(text, ip) || is_loopback(ip))
        continue;
      auto& v = owners[text];
      if (v.empty() || v.back() != i)
        v.push_back(i);
    }
  }
  std::vector<bool> known(g.nodes.size(), false); // outside nodes with an address
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& n = g.nodes[i];
    IpAddr ip;
    if (!n.external || !outside_address(n.name, ip))
      continue;
    known[i] = true;
    n.addresses.clear();
    append_ip(n.addresses.emplace_back(), ip);
  }
  for (Edge& e : g.edges) {
    const bool from_outside = g.nodes[e.from].external;
    const size_t outside = from_outside ? e.from : e.to;
    const size_t inside = from_outside ? e.to : e.from;
    if (!g.nodes[outside].external || !known[outside] || g.nodes[inside].external)
      continue;
    auto it = owners.find(g.nodes[outside].addresses[0]);
    if (it == owners.end() || it->second.size() != 1)
      continue;
    (from_outside ? e.from : e.to) = it->second[0]; // stays dashed: unmatched
  }
}

// One node per (host, name) for client-only processes seen as several.
void collapse_clients(Graph& g) {
  std::vector<bool> incoming(g.nodes.size(), false);
  for (const Edge& e : g.edges)
    incoming[e.to] = true;
  std::map<std::pair<std::string, std::string>, std::vector<size_t>> groups;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (!n.external && !n.collapsed() && n.pid != 0 && !incoming[i])
      groups[{n.host, n.name}].push_back(i);
  }
  std::vector<size_t> into(g.nodes.size(), SIZE_MAX); // member -> its group's first member
  for (const auto& [key, members] : groups) {
    if (members.size() < 2)
      continue;
    Node& head = g.nodes[members[0]];
    std::vector<std::string> addresses;
    std::set<std::string> seen;
    for (size_t m : members) {
      into[m] = members[0];
      head.pids.push_back(g.nodes[m].pid);
      for (const std::string& a : g.nodes[m].addresses)
        if (seen.insert(a).second)
          addresses.push_back(a);
    }
    head.pid = 0;
    head.addresses = std::move(addresses);
    head.key = head.host + '\0' + "*" + '\0' + head.name;
    head.label = collapsed_label(head);
  }
  for (Edge& e : g.edges) {
    if (into[e.from] != SIZE_MAX)
      e.from = into[e.from];
    if (into[e.to] != SIZE_MAX)
      e.to = into[e.to];
  }
}

// Edges that became equal (same ends, port, client port, kind) become one,
// at the first one's place, counting all of their connections.
void merge_equal_edges(Graph& g) {
  std::map<std::tuple<size_t, size_t, uint16_t, uint16_t, bool, bool, std::string>, size_t> seen;
  std::vector<Edge> kept;
  for (const Edge& e : g.edges) {
    auto [it, inserted] = seen.try_emplace(
        {e.from, e.to, e.port, e.client_port, e.matched, e.ambiguous, e.via}, kept.size());
    if (inserted)
      kept.push_back(e);
    else {
      kept[it->second].count += e.count;
      kept[it->second].add_life(e);
    }
  }
  g.edges = std::move(kept);
}

// --group-by service (issue 16): each edge that went through a service
// address becomes two, client -> service and service -> server, around one
// node per service address; their counts are the edge's.
void split_services(Graph& g) {
  std::map<std::string, size_t> service_nodes;
  std::vector<Edge> out;
  out.reserve(g.edges.size());
  for (Edge& e : g.edges) {
    if (e.via.empty()) {
      out.push_back(std::move(e));
      continue;
    }
    auto [it, inserted] = service_nodes.try_emplace(e.via, g.nodes.size());
    if (inserted) {
      Node n;
      n.key = "service " + e.via;
      n.name = e.via;
      n.service = true;
      n.label = "service\\n";
      append_dot_text(n.label, e.via);
      n.addresses.push_back(e.via);
      g.nodes.push_back(std::move(n));
    }
    const size_t colon = e.via.rfind(':');
    Edge in;
    in.from = e.from;
    in.to = it->second;
    in.port = uint16_t(std::stoul(e.via.substr(colon + 1)));
    in.client_port = e.client_port;
    in.count = e.count;
    in.matched = e.matched;
    in.ambiguous = e.ambiguous;
    Edge onward = std::move(e);
    onward.from = it->second;
    onward.client_port = 0; // the service's own port is on the way in
    onward.via.clear();
    onward.via_id = 0;
    out.push_back(std::move(in));
    out.push_back(std::move(onward));
  }
  g.edges = std::move(out);
}

std::string utc(uint64_t ns, bool with_date) {
  const std::time_t t = std::time_t(ns / 1000000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, with_date ? "%Y-%m-%d %H:%M:%S" : "%H:%M:%S", &tm);
  return buf;
}

std::string duration(uint64_t ns) {
  const uint64_t s = ns / 1000000000;
  if (s < 60)
    return std::to_string(s) + " s";
  if (s < 3600)
    return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
  return std::to_string(s / 3600) + " h " + std::to_string(s / 60 % 60) + " min";
}

} // namespace

void present(Graph& g, GroupBy group_by, const PresentOptions& o) {
  g.group_by = group_by;
  attach_outside_ends(g);
  for (Node& n : g.nodes)
    if (n.external) {
      n.label.clear();
      append_dot_text(n.label, n.name);
      n.label += " (not traced)";
    }
  if (o.collapse_clients && group_by == GroupBy::Pid)
    collapse_clients(g);
  if (group_by == GroupBy::Service)
    split_services(g);
  merge_equal_edges(g);
  std::erase_if(g.edges, [&](const Edge& e) { return e.count < o.min_count; });
  drop_unused_nodes(g);
}

std::string display_name(const Graph& g, size_t node) {
  const Node& n = g.nodes[node];
  std::string s;
  if (n.external)
    return n.name + " (not traced)";
  if (n.service)
    return "service " + n.name;
  if (n.collapsed())
    s = n.name + " (" + std::to_string(n.pids.size()) + " processes)";
  else if (g.group_by == GroupBy::Pid || g.group_by == GroupBy::Service)
    s = n.name + " (pid " + std::to_string(n.pid) + ")";
  else if (g.group_by == GroupBy::Comm)
    s = n.name;
  else if (g.group_by == GroupBy::Host)
    s = n.host.empty() ? "this host" : n.host;
  else if (g.group_by != GroupBy::Address) // exe, container, pod, unit, cgroup
    s = n.name;
  else
    s = n.addresses.empty() ? "?" : n.addresses[0];
  if (g.hosts.size() > 1 && g.group_by != GroupBy::Host)
    s += " on " + (n.host.empty() ? std::string("(unnamed host)") : n.host);
  return s;
}

std::string edge_words(const Edge& e) {
  std::string s = ":" + std::to_string(e.port);
  if (e.client_port)
    s = std::to_string(e.client_port) + " -> " + s;
  if (!e.via.empty())
    s += " via " + e.via; // NAT (issue 16): the service address the clients asked for
  s += ", " + plural(e.count, "connection", "connections");
  if (e.has_life()) {
    s += " (" + std::to_string(e.closed) + " closed, " + std::to_string(e.still_open) +
         " open at the end), " + byte_words(e.bytes_to_server) + " to the server, " +
         byte_words(e.bytes_to_client) + " back";
    if (!e.durations_ns.empty())
      s += ", lived " + duration_words(median_duration(e)) + " (median), " +
           duration_words(max_duration(e)) + " (max)";
  }
  return s;
}

std::vector<std::string> title_lines(const Graph& g) {
  std::vector<std::string> lines;
  std::string where;
  size_t named = 0;
  for (const std::string& h : g.hosts)
    if (!h.empty())
      ++named;
  if (named > 0 && named <= 3) {
    for (const std::string& h : g.hosts) {
      if (h.empty())
        continue;
      where += where.empty() ? " on " : ", ";
      where += h;
    }
  } else if (named > 3) {
    where = " on " + std::to_string(named) + " hosts";
  }
  lines.push_back("TCP connections" + where);
  if (g.stats.first_ns) {
    const uint64_t a = g.stats.first_ns, b = g.stats.last_ns;
    const bool same_day = a / 86400000000000 == b / 86400000000000;
    lines.push_back(utc(a, true) + " to " + utc(b, !same_day) + " UTC (" + duration(b - a) + ")");
  }
  uint64_t connections = 0, outside = 0;
  for (const Edge& e : g.edges) {
    if (g.nodes[e.from].service)
      continue; // --group-by service: counted on the way in
    connections += e.count;
    if (!e.matched)
      outside += e.count;
  }
  // Who is connected: processes with --group-by pid (a collapsed node counts
  // its members), else the nodes the grouping makes.
  uint64_t members = 0;
  std::set<std::pair<std::string, uint32_t>> pids;
  for (const Node& n : g.nodes) {
    if (n.external || n.service)
      continue;
    ++members;
    if (n.collapsed())
      for (uint32_t p : n.pids)
        pids.insert({n.host, p});
    else
      pids.insert({n.host, n.pid});
  }
  std::string who;
  switch (g.group_by) {
  case GroupBy::Pid:
  case GroupBy::Service:
    who = plural(pids.size(), "process", "processes");
    break;
  case GroupBy::Comm:
    who = plural(members, "process name", "process names");
    break;
  case GroupBy::Host:
    who = plural(members, "host", "hosts");
    break;
  case GroupBy::Address:
    who = plural(members, "address", "addresses");
    break;
  case GroupBy::Exe:
    who = plural(members, "executable", "executables");
    break;
  case GroupBy::Container:
    who = plural(members, "container", "containers");
    break;
  case GroupBy::Pod:
    who = plural(members, "pod", "pods");
    break;
  case GroupBy::Unit:
    who = plural(members, "unit", "units");
    break;
  case GroupBy::Cgroup:
    who = plural(members, "cgroup", "cgroups");
    break;
  }
  std::string counts = who + ", " + plural(connections, "connection", "connections");
  if (outside)
    counts += " (" + std::to_string(outside) + " with one end not traced)";
  lines.push_back(counts);
  if (g.incomplete())
    lines.push_back("incomplete: " + plural(g.stats.lost, "event", "events") +
                    " lost while tracing (raise nettrace --ringbuf-size)");
  return lines;
}

} // namespace nt
