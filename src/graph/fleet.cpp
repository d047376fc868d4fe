#include "graph/fleet.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <re2/re2.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <tuple>

#include "trace/parse.h"

namespace nt {

std::string fleet_query(std::string_view range, std::string_view filter) {
  std::string sel = "nettrace_connections_total{";
  sel.append(filter);
  sel.append("}");
  const std::string r(range);
  // via: on the edges nettrace --nat found translated (a Service's address).
  const std::string by = "(instance, comm, direction, server_addr, server_port, via)";
  // Per series: last value in the range minus the value `range` ago; a series
  // with no value then (born inside the range) counts whole. clamp_min: a
  // counter reset inside the range (nettrace restarted, an idle edge expired)
  // would make the difference negative.
  return "sum by " + by + " (clamp_min(last_over_time(" + sel + "[" + r + "]) - (" + sel +
         " offset " + r +
         "), 0) or on(instance, job, comm, direction, server_addr, server_port, via) " +
         "last_over_time(" + sel + "[" + r + "]))";
}

bool valid_prom_duration(std::string_view d) {
  static const re2::RE2 re("(?:[0-9]+(?:ms|s|m|h|d|w|y))+");
  return !d.empty() && re2::RE2::FullMatch(re2::StringPiece(d.data(), d.size()), re);
}

bool parse_prometheus_answer(std::string_view body, std::vector<FleetSeries>& out,
                             std::string& error) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    error = "the answer is not JSON (is the URL a Prometheus server?)";
    return false;
  }
  const auto status = j.find("status");
  if (status == j.end() || !status->is_string()) {
    error = "the answer has no \"status\" (is the URL a Prometheus server?)";
    return false;
  }
  if (*status != "success") {
    const auto et = j.value("errorType", std::string("?"));
    const auto e = j.value("error", std::string("no reason given"));
    error = "Prometheus says " + et + ": " + e;
    return false;
  }
  const auto data = j.find("data");
  if (data == j.end() || !data->is_object() || data->value("resultType", "") != "vector" ||
      !data->contains("result") || !(*data)["result"].is_array()) {
    error = "the answer holds no vector result";
    return false;
  }
  for (const auto& s : (*data)["result"]) {
    const auto m = s.find("metric");
    const auto v = s.find("value");
    if (m == s.end() || !m->is_object() || v == s.end() || !v->is_array() || v->size() != 2 ||
        !(*v)[1].is_string()) {
      error = "a series of the answer has no metric labels or value";
      return false;
    }
    FleetSeries f;
    f.instance = m->value("instance", "");
    f.comm = m->value("comm", "");
    const std::string dir = m->value("direction", "");
    f.server_addr = m->value("server_addr", "");
    f.via = m->value("via", "");
    const std::string port = m->value("server_port", "");
    if (dir != "in" && dir != "out") {
      error = "a series has no direction label \"in\" or \"out\" (not nettrace's edge counter)";
      return false;
    }
    f.out = dir == "out";
    IpAddr ip;
    unsigned long p = 0;
    try {
      size_t used = 0;
      p = std::stoul(port, &used);
      if (used != port.size())
        p = 0;
    } catch (const std::exception&) {
      p = 0;
    }
    if (!parse_ip(f.server_addr, ip) || p == 0 || p > 65535) {
      error = "a series has no valid server_addr and server_port labels (\"" + f.server_addr +
              "\", \"" + port + "\")";
      return false;
    }
    f.server_port = uint16_t(p);
    const std::string value = (*v)[1].get<std::string>();
    double d = 0;
    try {
      d = std::stod(value);
    } catch (const std::exception&) {
      error = "a series' value is not a number: " + value;
      return false;
    }
    if (!(d >= 0.5)) // NaN, 0, a rounding of 0
      continue;
    f.count = uint64_t(std::llround(d));
    out.push_back(std::move(f));
  }
  return true;
}

Graph fleet_graph(const std::vector<FleetSeries>& series, const GraphOptions& o) {
  std::unique_ptr<re2::RE2> include, exclude;
  if (!o.include.empty()) {
    include = std::make_unique<re2::RE2>(o.include, re2::RE2::Quiet);
    if (!include->ok())
      throw std::invalid_argument(o.include + ": " + include->error());
  }
  if (!o.exclude.empty()) {
    exclude = std::make_unique<re2::RE2>(o.exclude, re2::RE2::Quiet);
    if (!exclude->ok())
      throw std::invalid_argument(o.exclude + ": " + exclude->error());
  }
  Graph g;
  std::map<std::string, size_t> hosts;
  std::map<std::pair<std::string, std::string>, size_t> procs; // (instance, comm) -> node
  std::map<std::string, size_t> outside;                       // name -> node
  auto host_of = [&](const std::string& h) {
    if (hosts.try_emplace(h, g.hosts.size()).second)
      g.hosts.push_back(h);
  };
  auto proc = [&](const FleetSeries& s) {
    host_of(s.instance);
    auto [it, inserted] = procs.try_emplace({s.instance, s.comm}, g.nodes.size());
    if (inserted) {
      Node n;
      n.key = s.instance + '\0' + s.comm;
      n.host = s.instance;
      n.name = s.comm;
      append_dot_text(n.label, s.comm);
      g.nodes.push_back(std::move(n));
    }
    Node& n = g.nodes[it->second];
    // A server's node lists the addresses it accepts on, as a trace's does.
    if (!s.out && n.addresses.size() < 4 &&
        std::find(n.addresses.begin(), n.addresses.end(), s.server_addr) == n.addresses.end()) {
      n.addresses.push_back(s.server_addr);
      n.label += "\\n" + s.server_addr;
    }
    return it->second;
  };
  auto external = [&](const std::string& name) {
    auto [it, inserted] = outside.try_emplace(name, g.nodes.size());
    if (inserted) {
      Node n;
      n.key = "\x01" + name;
      n.name = name;
      append_dot_text(n.label, name);
      n.external = true;
      g.nodes.push_back(std::move(n));
    }
    return it->second;
  };
  auto loopback = [](const std::string& addr) {
    IpAddr ip;
    return parse_ip(addr, ip) && is_loopback(ip);
  };
  auto kept = [&](const FleetSeries& s) {
    if (o.no_loopback && loopback(s.server_addr))
      return false;
    if (exclude && re2::RE2::PartialMatch(s.comm, *exclude))
      return false;
    return true;
  };
  // The accepting ends by server address and port (and instance, for loopback).
  using Where = std::tuple<std::string, std::string, uint16_t>;
  auto where = [&](const FleetSeries& s) {
    return Where{loopback(s.server_addr) ? s.instance : std::string(), s.server_addr,
                 s.server_port};
  };
  std::map<Where, std::vector<size_t>> servers; // -> indices into series
  std::vector<uint64_t> left(series.size(), 0); // accepts no paired client counted yet
  for (size_t i = 0; i < series.size(); ++i)
    if (!series[i].out && kept(series[i])) {
      servers[where(series[i])].push_back(i);
      left[i] = series[i].count;
    }
  auto add_edge = [&](size_t from, size_t to, uint16_t port, uint64_t n, bool matched,
                      bool ambiguous, const std::string& via) {
    if (include && !re2::RE2::PartialMatch(g.nodes[from].name, *include) &&
        !re2::RE2::PartialMatch(g.nodes[to].name, *include))
      return;
    Edge e;
    e.from = from;
    e.to = to;
    e.port = port;
    e.count = n;
    e.matched = matched;
    e.ambiguous = ambiguous;
    e.via = via;
    g.edges.push_back(e);
  };
  for (size_t i = 0; i < series.size(); ++i) {
    const FleetSeries& s = series[i];
    if (!kept(s))
      continue;
    g.stats.events += s.count;
    (s.out ? g.stats.connects : g.stats.accepts) += s.count;
    if (!s.out) {
      proc(s);
      continue;
    }
    const size_t client = proc(s);
    auto it = servers.find(where(s));
    if (it == servers.end()) {
      add_edge(client, external(s.server_addr), s.server_port, s.count, false, false, s.via);
      g.stats.unmatched_connects += s.count;
      continue;
    }
    // Two processes accepting on one address and port (SO_REUSEPORT, or two
    // instances claiming one address): which got these connections cannot
    // be told from counters; the first is drawn, dotted with a "?". One
    // process has several series there when some of its accepts came
    // through a translation (--nat: a `via` each): the one with this
    // client's `via` takes the count.
    size_t srv = it->second.front();
    bool ambiguous = false;
    for (size_t j : it->second) {
      if (series[j].instance != series[srv].instance || series[j].comm != series[srv].comm)
        ambiguous = true;
      else if (series[j].via == s.via && series[srv].via != s.via)
        srv = j;
    }
    // The client's end names the service it asked for; an end translated
    // only on the server's node (a NodePort) names it there.
    add_edge(client, proc(series[srv]), s.server_port, s.count, true, ambiguous,
             s.via.empty() ? series[srv].via : s.via);
    g.stats.matched += s.count;
    if (ambiguous)
      g.stats.ambiguous += s.count;
    left[srv] -= std::min(left[srv], s.count);
  }
  for (size_t i = 0; i < series.size(); ++i)
    if (left[i] > 0) {
      add_edge(external("other clients"), proc(series[i]), series[i].server_port, left[i], false,
               false, series[i].via);
      g.stats.unmatched_accepts += left[i];
    }
  return g;
}

namespace {

size_t append_body(char* p, size_t size, size_t n, void* user) {
  auto* body = static_cast<std::string*>(user);
  // An edge answer is a few hundred bytes a series: 256 MiB is far past any fleet.
  if (body->size() + size * n > (256u << 20))
    return 0;
  body->append(p, size * n);
  return size * n;
}

// libcurl is loaded the first time netgraph asks Prometheus, not at start.
// Linked, it and the 33 libraries it brings (TLS, Kerberos, LDAP, IDN...)
// cost every netgraph run 5.8 ms and 6.5 MB before the first line is read
// (BENCHMARKS.md, "netgraph's start"), for the one mode that talks HTTP;
// netgraph is mostly a filter in a pipeline. <curl/curl.h> still gives the
// calls' types, so each pointer below has the exact type of its function.
struct Curl {
  decltype(&curl_global_init) global_init = nullptr;
  decltype(&curl_easy_init) easy_init = nullptr;
  decltype(&curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&curl_easy_escape) easy_escape = nullptr;
  decltype(&curl_free) free = nullptr;
  decltype(&curl_easy_setopt) easy_setopt = nullptr;
  decltype(&curl_easy_perform) easy_perform = nullptr;
  decltype(&curl_easy_strerror) easy_strerror = nullptr;
  decltype(&curl_easy_getinfo) easy_getinfo = nullptr;
  std::string error; // why it could not be loaded; empty when it was
};

template <typename F> bool resolve(void* lib, const char* name, F& f, std::string& error) {
  f = reinterpret_cast<F>(dlsym(lib, name));
  if (!f && error.empty())
    error = std::string("libcurl.so.4 has no ") + name;
  return f != nullptr;
}

// Loaded once and never unloaded (libcurl keeps global state); curl_global_init
// runs here, once, as libcurl wants it before any other call.
const Curl& curl() {
  static const Curl c = [] {
    Curl c;
    void* lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* why = dlerror();
      c.error = std::string("cannot load libcurl.so.4 (") + (why ? why : "not found") +
                "): install libcurl4 (apt-get install libcurl4)";
      return c;
    }
    resolve(lib, "curl_global_init", c.global_init, c.error);
    resolve(lib, "curl_easy_init", c.easy_init, c.error);
    resolve(lib, "curl_easy_cleanup", c.easy_cleanup, c.error);
    resolve(lib, "curl_easy_escape", c.easy_escape, c.error);
    resolve(lib, "curl_free", c.free, c.error);
    resolve(lib, "curl_easy_setopt", c.easy_setopt, c.error);
    resolve(lib, "curl_easy_perform", c.easy_perform, c.error);
    resolve(lib, "curl_easy_strerror", c.easy_strerror, c.error);
    resolve(lib, "curl_easy_getinfo", c.easy_getinfo, c.error);
    if (c.error.empty() && c.global_init(CURL_GLOBAL_DEFAULT) != 0)
      c.error = "libcurl cannot start (curl_global_init failed)";
    return c;
  }();
  return c;
}

} // namespace

bool curl_is_loaded() {
  // dlopen with RTLD_NOLOAD finds a library only if it is already mapped.
  void* lib = dlopen("libcurl.so.4", RTLD_LAZY | RTLD_NOLOAD);
  if (lib)
    dlclose(lib);
  return lib != nullptr;
}

long query_prometheus(const std::string& url, const std::string& query, std::string& body,
                      std::string& error) {
  const Curl& lib = curl();
  if (!lib.error.empty()) {
    error = lib.error;
    return 0;
  }
  auto cleanup = [&lib](CURL* c) { lib.easy_cleanup(c); };
  std::unique_ptr<CURL, decltype(cleanup)> c(lib.easy_init(), cleanup);
  if (!c) {
    error = "libcurl cannot start";
    return 0;
  }
  std::unique_ptr<char, decltype(lib.free)> q(
      lib.easy_escape(c.get(), query.data(), int(query.size())), lib.free);
  std::string base = url;
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  const std::string full = base + "/api/v1/query?query=" + (q ? q.get() : "");
  char why[CURL_ERROR_SIZE] = "";
  lib.easy_setopt(c.get(), CURLOPT_URL, full.c_str());
  lib.easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  lib.easy_setopt(c.get(), CURLOPT_ERRORBUFFER, why);
  lib.easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT, 5L);
  lib.easy_setopt(c.get(), CURLOPT_TIMEOUT, 60L);
  lib.easy_setopt(c.get(), CURLOPT_NOSIGNAL, 1L);
  lib.easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, append_body);
  lib.easy_setopt(c.get(), CURLOPT_WRITEDATA, &body);
  lib.easy_setopt(c.get(), CURLOPT_USERAGENT, "netgraph");
  const CURLcode rc = lib.easy_perform(c.get());
  if (rc != CURLE_OK) {
    error = why[0] ? why : lib.easy_strerror(rc);
    return 0;
  }
  long status = 0;
  lib.easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
  return status;
}

} // namespace nt
