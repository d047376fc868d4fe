#include "graph/render.h"

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>

#include <memory>
#include <nlohmann/json.hpp>

namespace nt {
namespace {

struct GraphDeleter {
  void operator()(Agraph_t* g) const noexcept { agclose(g); }
};
struct GvcDeleter {
  void operator()(GVC_t* c) const noexcept { gvFreeContext(c); }
};
using GraphPtr = std::unique_ptr<Agraph_t, GraphDeleter>;

// cgraph takes char* for names and values that it copies.
char* cs(const std::string& s) { return const_cast<char*>(s.c_str()); }
char* cs(const char* s) { return const_cast<char*>(s); }

GraphPtr build_cgraph(const Graph& g) {
  GraphPtr G(agopen(cs("netgraph"), Agdirected, nullptr));
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
    if (n.external) agsafeset(an, cs("style"), cs("dashed"), cs(""));
    nodes.push_back(an);
  }
  for (const Edge& e : g.edges) {
    Agedge_t* ae = agedge(G.get(), nodes[e.from], nodes[e.to], nullptr, 1);
    std::string label = ":" + std::to_string(e.port);
    if (e.client_port) label = std::to_string(e.client_port) + " -> " + label;
    if (e.count > 1) label += " x" + std::to_string(e.count);
    agsafeset(ae, cs("label"), cs(label), cs(""));
    if (!e.matched) agsafeset(ae, cs("style"), cs("dashed"), cs(""));
  }
  return G;
}

}  // namespace

bool write_dot(const Graph& g, FILE* out) {
  GraphPtr G = build_cgraph(g);
  return agwrite(G.get(), out) == 0 && std::fflush(out) == 0 && !std::ferror(out);
}

bool render_file(const Graph& g, const std::string& format, const std::string& path, std::string& why) {
  GraphPtr G = build_cgraph(g);
  std::unique_ptr<GVC_t, GvcDeleter> gvc(gvContext());
  if (gvLayout(gvc.get(), G.get(), "dot") != 0) {
    why = "Graphviz could not lay out the graph";
    return false;
  }
  int rc = gvRenderFilename(gvc.get(), G.get(), format.c_str(), path.c_str());
  gvFreeLayout(gvc.get(), G.get());
  if (rc != 0) {
    why = "Graphviz could not render format '" + format + "' (is the graphviz package with its plugins installed?)";
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
    nodes.push_back({{"id", i}, {"name", n.name}, {"host", n.host}, {"external", n.external}, {"label", n.label}});
  }
  auto& edges = j["edges"] = nlohmann::json::array();
  for (const Edge& e : g.edges)
    edges.push_back({{"from", e.from}, {"to", e.to}, {"port", e.port}, {"count", e.count}, {"matched", e.matched}});
  const GraphStats& s = g.stats;
  j["stats"] = {{"events", s.events},         {"connects", s.connects},
                {"accepts", s.accepts},       {"failed", s.failed},
                {"lost", s.lost},             {"matched", s.matched},
                {"unmatched_connects", s.unmatched_connects}, {"unmatched_accepts", s.unmatched_accepts}};
  return j.dump(1) + "\n";
}

}  // namespace nt
