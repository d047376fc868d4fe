#include "graph/render.h"

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

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

GraphPtr build_cgraph(const Graph& g) {
  GraphPtr G(agopen(cs("netgraph"), Agdirected, &netgraph_disc));
  agattr(G.get(), AGRAPH, cs("rankdir"), cs("LR"));
  agattr(G.get(), AGNODE, cs("shape"), cs("box"));
  agattr(G.get(), AGNODE, cs("style"), cs(""));
  agattr(G.get(), AGNODE, cs("label"), cs("\\N"));
  agattr(G.get(), AGEDGE, cs("label"), cs(""));
  agattr(G.get(), AGEDGE, cs("style"), cs(""));
  if (g.incomplete()) {
    std::string note = "incomplete: " + std::to_string(g.stats.lost) +
                       " events were lost while tracing (raise nettrace --ringbuf-size)";
    agattr(G.get(), AGRAPH, cs("label"), cs(note));
    agattr(G.get(), AGRAPH, cs("labelloc"), cs("t"));
  }
  // One cluster per host when the trace spans several.
  std::vector<Agraph_t*> clusters;
  const bool multi = g.hosts.size() > 1;
  std::vector<Agnode_t*> nodes;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    Agraph_t* parent = G.get();
    if (multi && !n.external) {
      std::string cname = "cluster_" + n.host;
      parent = agsubg(G.get(), cs(cname), 1);
      agsafeset(parent, cs("label"), cs(n.host.empty() ? "(unnamed host)" : n.host), cs(""));
    }
    std::string id = "n" + std::to_string(i);
    Agnode_t* an = agnode(parent, cs(id), 1);
    agsafeset(an, cs("label"), cs(n.label), cs(""));
    if (n.external)
      agsafeset(an, cs("style"), cs("dashed"), cs(""));
    nodes.push_back(an);
  }
  for (const Edge& e : g.edges) {
    Agedge_t* ae = agedge(G.get(), nodes[e.from], nodes[e.to], nullptr, 1);
    std::string label = ":" + std::to_string(e.port);
    if (e.client_port)
      label = std::to_string(e.client_port) + " -> " + label;
    if (e.count > 1)
      label += " x" + std::to_string(e.count);
    // Paired by order only (see Edge::ambiguous): dotted and marked, never
    // drawn as a sure connection.
    if (e.ambiguous)
      label = "? " + label;
    agsafeset(ae, cs("label"), cs(label), cs(""));
    if (!e.matched)
      agsafeset(ae, cs("style"), cs("dashed"), cs(""));
    else if (e.ambiguous)
      agsafeset(ae, cs("style"), cs("dotted"), cs(""));
  }
  return G;
}

} // namespace

bool write_dot(const Graph& g, FILE* out) {
  GraphPtr G = build_cgraph(g);
  return agwrite(G.get(), out) == 0 && std::fflush(out) == 0 && !std::ferror(out);
}

bool render_file(const Graph& g, const std::string& format, const std::string& path,
                 std::string& why) {
  GraphPtr G = build_cgraph(g);
  std::unique_ptr<GVC_t, GvcDeleter> gvc(gvContext());
  if (gvLayout(gvc.get(), G.get(), "dot") != 0) {
    why = "Graphviz could not lay out the graph";
    return false;
  }
  int rc = gvRenderFilename(gvc.get(), G.get(), format.c_str(), path.c_str());
  gvFreeLayout(gvc.get(), G.get());
  if (rc != 0) {
    why = "Graphviz could not render format '" + format +
          "' (is the graphviz package with its plugins installed?)";
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
    nodes.push_back({{"id", i},
                     {"name", n.name},
                     {"host", n.host},
                     {"external", n.external},
                     {"label", n.label}});
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
  return j.dump(1) + "\n";
}

} // namespace nt
