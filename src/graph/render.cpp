#include "graph/render.h"

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "graph/present.h"

namespace nt {
namespace {

struct GraphDeleter {
  void operator()(Agraph_t* g) const noexcept { agclose(g); }
};
struct GvcDeleter {
  void operator()(GVC_t* c) const noexcept { gvFreeContext(c); }
};
using GraphPtr = std::unique_ptr<Agraph_t, GraphDeleter>;

// IDs in creation order. cgraph's default ID discipline makes a named object's
// ID the address of its interned name, and Graphviz 2.42 writes subgraphs in ID
// order: the host clusters of one trace came out in heap order, which changed
// with unrelated allocations. Here a name's ID is its rank of first use (even,
// as cgraph expects of named objects; anonymous ones, our edges, are odd), so
// clusters come out in the order their hosts were first seen.
struct SequentialIds {
  Agraph_t* root = nullptr;
  std::unordered_map<std::string, IDTYPE> ids;
  // names[id / 2 - 1], interned in the graph's string pool: cgraph reads
  // flags (is it an HTML label?) from the pool's header in front of a name.
  std::vector<char*> names;
  IDTYPE next_anonymous = 1;
};

void* ids_open(Agraph_t* g, Agdisc_t*) {
  auto* s = new SequentialIds;
  s->root = g;
  return s;
}

long ids_map(void* state, int, char* str, IDTYPE* id, int create) {
  auto* s = static_cast<SequentialIds*>(state);
  if (!str) {
    *id = s->next_anonymous;
    s->next_anonymous += 2;
    return 1;
  }
  auto it = s->ids.find(str);
  if (it != s->ids.end()) {
    *id = it->second;
    return 1;
  }
  if (!create)
    return 0; // a lookup of a name never used
  s->names.push_back(agstrdup(s->root, str));
  *id = IDTYPE(s->names.size()) * 2;
  s->ids.emplace(str, *id);
  return 1;
}

long ids_alloc(void*, int, IDTYPE) {
  return 0;
} // no caller-chosen IDs
void ids_free(void*, int, IDTYPE) {} // names live as long as the graph's string pool
char* ids_print(void* state, int, IDTYPE id) {
  auto* s = static_cast<SequentialIds*>(state);
  if (id == 0 || id % 2 != 0 || id / 2 > IDTYPE(s->names.size()))
    return nullptr;
  return s->names[size_t(id / 2 - 1)];
}
void ids_close(void* state) {
  delete static_cast<SequentialIds*>(state);
}
void ids_register(void*, int, void*) {}

Agiddisc_t sequential_id_disc = {ids_open,  ids_map,   ids_alloc,   ids_free,
                                 ids_print, ids_close, ids_register};
Agdisc_t netgraph_disc = {&AgMemDisc, &sequential_id_disc, &AgIoDisc};

// cgraph takes char* for names and values that it copies.
char* cs(const std::string& s) {
  return const_cast<char*>(s.c_str());
}
char* cs(const char* s) {
  return const_cast<char*>(s);
}

// DOT label text (escString): a backslash is doubled.
std::string dot_text(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// Bytes outside printable ASCII as \xHH, as nettrace writes names: a host
// name may hold any byte, and Graphviz wants UTF-8.
std::string printable(std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e)
      out += {'\\', 'x', hex[c >> 4], hex[c & 15]};
    else
      out.push_back(char(c));
  }
  return out;
}

// Text for an HTML-like label: printable, and &, <, >, " as entities.
std::string html_text(std::string_view s) {
  std::string out;
  for (char c : printable(s)) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else if (c == '"')
      out += "&quot;";
    else
      out.push_back(c);
  }
  return out;
}

// Sets an HTML-like label: cgraph keeps such strings apart in its pool.
void set_html(Agraph_t* root, void* obj, const char* attr, const std::string& html) {
  char* h = agstrdup_html(root, cs(html));
  agsafeset(obj, cs(attr), h, cs(""));
  agstrfree(root, h);
}

// Title (what the picture is) and a small legend, above the graph.
std::string title_html(const Graph& g) {
  const std::vector<std::string> lines = title_lines(g);
  std::string h = R"(<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">)";
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string text = html_text(lines[i]);
    if (i == 0)
      text = R"(<FONT POINT-SIZE="16">)" + text + "</FONT>";
    else if (g.incomplete() && i + 1 == lines.size())
      text = R"(<FONT COLOR="red3">)" + text + "</FONT>";
    h += "<TR><TD>" + text + "</TD></TR>";
  }
  bool dashed = false, dotted = false, collapsed = false;
  for (const Edge& e : g.edges) {
    dashed |= !e.matched;
    dotted |= e.matched && e.ambiguous;
  }
  for (const Node& n : g.nodes)
    collapsed |= n.collapsed();
  std::string legend = "solid edge: client to server, both ends traced";
  if (dashed)
    legend += "; dashed: one end not in the trace";
  if (dotted)
    legend += "; dotted, '?': paired by order among ends the trace cannot tell apart";
  h += R"(<TR><TD><FONT POINT-SIZE="10" COLOR="gray30">)" + html_text(legend) + "</FONT></TD></TR>";
  if (collapsed)
    h += R"(<TR><TD><FONT POINT-SIZE="10" COLOR="gray30">)" +
         html_text("name (N processes): N processes of one name on one host that only connect, "
                   "drawn as one (--group-by pid draws each)") +
         "</FONT></TD></TR>";
  return h + "</TABLE>";
}

GraphPtr build_cgraph(const Graph& g) {
  GraphPtr G(agopen(cs("netgraph"), Agdirected, &netgraph_disc));
  agattr(G.get(), AGRAPH, cs("rankdir"), cs("LR"));
  // Room between edges that fan out of one node, so their labels clear them.
  agattr(G.get(), AGRAPH, cs("nodesep"), cs("0.4"));
  agattr(G.get(), AGRAPH, cs("label"), cs(""));
  agattr(G.get(), AGNODE, cs("shape"), cs("box"));
  agattr(G.get(), AGNODE, cs("style"), cs(""));
  agattr(G.get(), AGNODE, cs("label"), cs("\\N"));
  agattr(G.get(), AGNODE, cs("tooltip"), cs(""));
  agattr(G.get(), AGEDGE, cs("label"), cs(""));
  agattr(G.get(), AGEDGE, cs("style"), cs(""));
  agattr(G.get(), AGEDGE, cs("tooltip"), cs(""));
  agattr(G.get(), AGEDGE, cs("tailport"), cs(""));
  agattr(G.get(), AGEDGE, cs("headport"), cs(""));
  // One cluster per host when the trace spans several.
  const bool multi = g.hosts.size() > 1;
  std::vector<Agnode_t*> nodes;
  std::unordered_map<std::string, int> taken; // node names must be unique
  std::vector<std::string> names;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    Agraph_t* parent = G.get();
    if (multi && !n.external && !n.service) {
      std::string cname = "cluster_" + n.host;
      parent = agsubg(G.get(), cs(cname), 1);
      agsafeset(parent, cs("label"),
                cs(n.host.empty() ? "(unnamed host)" : dot_text(printable(n.host))), cs(""));
    }
    // Named as a person names it (SVG shows node and edge names as titles).
    std::string name = printable(display_name(g, i));
    names.push_back(name);
    if (int k = taken[name]++; k > 0)
      name += " #" + std::to_string(k + 1);
    Agnode_t* an = agnode(parent, cs(name), 1);
    agsafeset(an, cs("label"), cs(n.label), cs(""));
    std::string tip = names.back();
    if (n.collapsed()) {
      tip += ": pids";
      for (size_t p = 0; p < n.pids.size(); ++p)
        tip += (p ? ", " : " ") + std::to_string(n.pids[p]);
    }
    for (size_t a = 0; !n.external && a < n.addresses.size(); ++a)
      tip += (a ? ", " : " at ") + n.addresses[a];
    agsafeset(an, cs("tooltip"), cs(dot_text(printable(tip))), cs(""));
    if (n.external)
      agsafeset(an, cs("style"), cs("dashed"), cs(""));
    if (n.service) // --group-by service (issue 16): an address, not a process
      agsafeset(an, cs("shape"), cs("diamond"), cs(""));
    nodes.push_back(an);
  }
  // One DOT edge per (client, server, kind: solid, dashed or dotted), its
  // label one line per port: parallel edges and self-loops then have one
  // label each, which Graphviz places without overlaps. A node's solid
  // self-loop is drawn on top, the others below.
  enum Kind { Solid, Dashed, Dotted };
  auto kind = [](const Edge& e) { return !e.matched ? Dashed : e.ambiguous ? Dotted : Solid; };
  std::map<std::tuple<size_t, size_t, int>, std::vector<const Edge*>> groups;
  std::vector<std::tuple<size_t, size_t, int>> order;
  for (const Edge& e : g.edges) {
    auto& v = groups[{e.from, e.to, kind(e)}];
    if (v.empty())
      order.push_back({e.from, e.to, kind(e)});
    v.push_back(&e);
  }
  std::vector<bool> looped(g.nodes.size(), false);
  for (const Edge& e : g.edges)
    if (e.from == e.to)
      looped[e.from] = true;
  constexpr size_t kShownLines = 6;
  for (const auto& key : order) {
    const auto& [from, to, k] = key;
    const std::vector<const Edge*>& es = groups[key];
    Agedge_t* ae = agedge(G.get(), nodes[from], nodes[to], nullptr, 1);
    std::string label, tip = names[from] + " -> " + names[to];
    for (size_t i = 0; i < es.size(); ++i) {
      const Edge& e = *es[i];
      if (i < kShownLines - 1 || es.size() == kShownLines) {
        if (!label.empty())
          label += "\\n";
        if (k == Dotted)
          label += "? ";
        if (e.client_port)
          label += std::to_string(e.client_port) + " -> ";
        label += ":" + std::to_string(e.port);
        if (!e.via.empty()) {
          label += " via "; // NAT (issue 16)
          append_dot_text(label, e.via);
        }
        if (e.count > 1)
          label += " x" + std::to_string(e.count);
        if (e.has_life())
          label += ", " + byte_words(e.bytes_to_server + e.bytes_to_client);
      } else if (i == kShownLines - 1) {
        label += "\\n+" + std::to_string(es.size() - i) + " more";
      }
      tip += (i ? "; " : " ") + edge_words(e);
    }
    if (k == Dashed)
      tip += " (the other end was not traced)";
    if (k == Dotted)
      tip += " (paired by order only: the trace cannot tell these ends apart)";
    agsafeset(ae, cs("label"), cs(label), cs(""));
    agsafeset(ae, cs("tooltip"), cs(dot_text(printable(tip))), cs(""));
    if (g.weight != Graph::Weight::None) {
      // Pen width grows with the logarithm of the connections or bytes, from
      // 1 to 8 points.
      double w = 0;
      for (const Edge* e : es)
        w += g.weight == Graph::Weight::Count ? double(e->count)
                                              : double(e->bytes_to_server + e->bytes_to_client);
      const double pen = std::min(8.0, 1.0 + (g.weight == Graph::Weight::Count
                                                  ? std::log2(std::max(1.0, w))
                                                  : std::log10(std::max(1.0, w)) / 1.5));
      char buf[16];
      std::snprintf(buf, sizeof buf, "%.1f", pen);
      agsafeset(ae, cs("penwidth"), cs(buf), cs(""));
    }
    if (k != Solid)
      agsafeset(ae, cs("style"), cs(k == Dashed ? "dashed" : "dotted"), cs(""));
    if (from == to) {
      agsafeset(ae, cs("tailport"), cs(k == Solid ? "n" : "s"), cs(""));
      agsafeset(ae, cs("headport"), cs(k == Solid ? "n" : "s"), cs(""));
    } else {
      // Edges into a node with loops come in on its west side (rankdir
      // LR), away from the loops' labels: many clients of one server
      // otherwise come in across them.
      if (looped[to])
        agsafeset(ae, cs("headport"), cs("w"), cs(""));
    }
  }
  // Last: setting the root graph's label also sets the default of
  // subgraphs made after it.
  agattr(G.get(), AGRAPH, cs("labelloc"), cs("t"));
  set_html(G.get(), G.get(), "label", title_html(g));
  return G;
}

// Graphviz reports its errors through agerr(), on stderr unless a handler
// is set: while netgraph renders, they are kept here and go into netgraph's
// own one-line message when rendering fails.
std::string graphviz_errors;
int keep_graphviz_error(char* message) {
  graphviz_errors += message;
  return 0;
}

struct CaptureGraphvizErrors {
  agusererrf previous;
  CaptureGraphvizErrors() : previous(agseterrf(keep_graphviz_error)) { graphviz_errors.clear(); }
  ~CaptureGraphvizErrors() { agseterrf(previous); }
  CaptureGraphvizErrors(const CaptureGraphvizErrors&) = delete;
  CaptureGraphvizErrors& operator=(const CaptureGraphvizErrors&) = delete;
  // The first line, without Graphviz's "Error: " prefix.
  std::string first() const {
    std::string s = graphviz_errors.substr(0, graphviz_errors.find('\n'));
    for (const char* prefix : {"Error: ", "Warning: "})
      if (s.rfind(prefix, 0) == 0)
        s.erase(0, std::strlen(prefix));
    return s;
  }
};

} // namespace

bool write_dot(const Graph& g, FILE* out) {
  CaptureGraphvizErrors capture;
  GraphPtr G = build_cgraph(g);
  return agwrite(G.get(), out) == 0 && std::fflush(out) == 0 && !std::ferror(out);
}

bool render(const Graph& g, const std::string& format, FILE* out, std::string& why) {
  CaptureGraphvizErrors capture;
  GraphPtr G = build_cgraph(g);
  std::unique_ptr<GVC_t, GvcDeleter> gvc(gvContext());
  if (gvLayout(gvc.get(), G.get(), "dot") != 0) {
    why = "Graphviz could not lay out the graph: " + capture.first();
    return false;
  }
  int rc = gvRender(gvc.get(), G.get(), format.c_str(), out);
  gvFreeLayout(gvc.get(), G.get());
  if (rc != 0) {
    why = "Graphviz could not render format '" + format +
          "' (is the graphviz package with its plugins installed?)";
    if (!graphviz_errors.empty())
      why += ": " + capture.first();
    return false;
  }
  if (std::fflush(out) != 0 || std::ferror(out)) {
    why = std::strerror(errno ? errno : EIO);
    return false;
  }
  return true;
}

std::string to_json(const Graph& g) {
  nlohmann::json j;
  j["incomplete"] = g.incomplete();
  j["hosts"] = g.hosts;
  auto& nodes = j["nodes"] = nlohmann::json::array();
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    nlohmann::json node = {{"id", i},
                           {"name", n.name},
                           {"host", n.host},
                           {"external", n.external},
                           {"addresses", n.addresses},
                           {"label", n.label}};
    // pid: the process; a collapsed node has its members' pids and count
    // instead; nodes of other groupings (and outside ones) have neither.
    if (n.service) // --group-by service (issue 16)
      node["service"] = true;
    if (n.collapsed()) {
      node["pids"] = n.pids;
      node["processes"] = n.pids.size();
    } else if (n.pid != 0) {
      node["pid"] = n.pid;
    }
    nodes.push_back(std::move(node));
  }
  auto& edges = j["edges"] = nlohmann::json::array();
  for (const Edge& e : g.edges) {
    edges.push_back({{"from", e.from},
                     {"to", e.to},
                     {"port", e.port},
                     {"count", e.count},
                     {"matched", e.matched}});
    if (e.ambiguous) // only when set: graphs without ambiguity read as before
      edges.back()["ambiguous"] = true;
    if (!e.via.empty()) // NAT (issue 16): the service address the clients asked for
      edges.back()["via"] = e.via;
    if (e.has_life()) { // likewise: traces without close records read as before
      auto& b = edges.back();
      b["closed"] = e.closed;
      b["open"] = e.still_open;
      b["bytes_to_server"] = e.bytes_to_server;
      b["bytes_to_client"] = e.bytes_to_client;
      b["duration_median_ns"] = median_duration(e);
      b["duration_max_ns"] = max_duration(e);
    }
  }
  const GraphStats& s = g.stats;
  j["stats"] = {{"events", s.events},
                {"connects", s.connects},
                {"accepts", s.accepts},
                {"failed", s.failed},
                {"lost", s.lost},
                {"matched", s.matched},
                {"unmatched_connects", s.unmatched_connects},
                {"unmatched_accepts", s.unmatched_accepts}};
  if (s.ambiguous)
    j["stats"]["ambiguous"] = s.ambiguous;
  if (s.lives) {
    j["stats"]["lives"] = s.lives;
    j["stats"]["lives_unattributed"] = s.lives_unattributed;
    j["stats"]["moved_to_closer"] = s.moved_to_closer;
  }
  return j.dump(1) + "\n";
}

} // namespace nt
