#include "serve/serve_api.h"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include <unistd.h>

#include "graph/graph.h"
#include "graph/render.h"
#include "serve/exposition.h"
#include "trace/format.h"
#include "web/view.h"
#include "web/web.h"

namespace nt {
namespace {

constexpr std::string_view kJsonLines = "application/x-ndjson; charset=utf-8";

bool decode(std::string_view s, std::string& out) {
  out.clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size())
        return false;
      const int hi = hex_digit_value(s[i + 1]), lo = hex_digit_value(s[i + 2]);
      if (hi < 0 || lo < 0)
        return false;
      out.push_back(char(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return true;
}

bool whole(std::string_view s, uint64_t max, uint64_t& v) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && ec == std::errc{} && end == s.data() + s.size() && v <= max;
}

// A client's text as a 400 repeats it: printable ASCII, every other byte
// \xHH, at most 64 bytes, so a reason stays one line whatever was sent.
std::string shown(std::string_view v) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < v.size() && i < 64; ++i) {
    const auto c = static_cast<unsigned char>(v[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(char(c));
    } else {
      out.append("\\x");
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (v.size() > 64)
    out.append("...");
  return out;
}

HttpResponse bad(std::string why) {
  return HttpResponse{400, "text/plain; charset=utf-8", why + "\n"};
}

HttpResponse json_lines(const std::vector<Record>& records) {
  HttpResponse r;
  r.content_type = std::string(kJsonLines);
  r.body.reserve(records.size() * 300);
  for (const Record& rec : records)
    append_json(r.body, rec);
  return r;
}

HttpResponse metrics(ServeState& state, uint64_t now_ms) {
  const auto t0 = std::chrono::steady_clock::now();
  HttpResponse r;
  r.content_type = std::string(kMetricsContentType);
  r.body = exposition(state.metrics(now_ms));
  append_scrape_duration(
      r.body, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return r;
}

HttpResponse graph(ServeState& state, std::string_view query, uint64_t now_ms) {
  std::vector<std::pair<std::string, std::string>> params;
  if (std::string e = parse_query(query, params); !e.empty())
    return bad(e);
  std::string format = "dot";
  for (const auto& [k, v] : params) {
    if (k != "format")
      return bad("unknown parameter '" + shown(k) + "' (use format=dot|json|svg)");
    if (v != "dot" && v != "json" && v != "svg")
      return bad("format must be dot, json or svg, got '" + shown(v) + "'");
    format = v;
  }
  // The map of the recent records (the ring /api/events serves): the
  // connections made and their closes, with bytes, as netgraph draws a trace.
  // Open connections alone would lose every short one the moment it closed.
  GraphBuilder b{GraphOptions{}};
  EventQuery everything;
  everything.limit = state.limits().ring;
  (void)now_ms;
  for (const Record& rec : state.events(everything))
    b.add(rec, std::string_view{});
  const Graph g = b.finish();
  HttpResponse r;
  if (format == "json") {
    r.content_type = "application/json";
    r.body = to_json(g);
    return r;
  }
  char* buf = nullptr;
  size_t len = 0;
  FILE* mem = open_memstream(&buf, &len);
  if (!mem)
    return HttpResponse{500, "text/plain; charset=utf-8", "out of memory\n"};
  std::string why;
  const bool ok = format == "dot" ? write_dot(g, mem) : render(g, "svg", mem, why);
  std::fclose(mem);
  r.body.assign(buf ? buf : "", len);
  std::free(buf);
  if (!ok)
    return HttpResponse{500, "text/plain; charset=utf-8", "cannot draw the graph: " + why + "\n"};
  r.content_type = format == "dot" ? "text/vnd.graphviz; charset=utf-8" : "image/svg+xml";
  return r;
}

HttpResponse no_params(std::string_view query, HttpResponse ok) {
  if (!query.empty())
    return bad("this route takes no parameters");
  return ok;
}

} // namespace

std::string parse_query(std::string_view query,
                        std::vector<std::pair<std::string, std::string>>& out) {
  out.clear();
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty())
      continue;
    const size_t eq = item.find('=');
    std::string key, value;
    if (!decode(item.substr(0, eq), key) ||
        !decode(eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1), value))
      return "bad %-escape in the query";
    for (const auto& kv : out)
      if (kv.first == key)
        return "parameter '" + shown(key) + "' given twice";
    out.emplace_back(std::move(key), std::move(value));
  }
  return {};
}

std::string parse_event_query(std::string_view query, size_t max_limit, EventQuery& q) {
  std::vector<std::pair<std::string, std::string>> params;
  if (std::string e = parse_query(query, params); !e.empty())
    return e;
  q = EventQuery{};
  q.limit = std::min<size_t>(q.limit, max_limit);
  for (const auto& [k, v] : params) {
    uint64_t n = 0;
    if (k == "since") {
      if (!whole(v, UINT64_MAX, n))
        return "since must be a ts_ns value (a whole number of nanoseconds), got '" + shown(v) +
               "'";
      q.since_ns = n;
    } else if (k == "pid") {
      if (!whole(v, UINT32_MAX, n) || n == 0)
        return "pid must be a process id from 1 to 4294967295, got '" + shown(v) + "'";
      q.has_pid = true;
      q.pid = uint32_t(n);
    } else if (k == "comm") {
      if (v.empty() || v.size() > 64)
        return "comm must be a process name of 1 to 15 bytes (as --format json writes it)";
      q.has_comm = true;
      q.comm = v;
    } else if (k == "type") {
      const KindInfo* kind = kind_by_name(v);
      if (!kind) {
        std::string names;
        for (const KindInfo& ki : kinds())
          names += (names.empty() ? "" : ", ") + std::string(ki.name);
        return "type must be one of " + names + ", got '" + shown(v) + "'";
      }
      q.has_type = true;
      q.type = kind->type;
    } else if (k == "limit") {
      if (!whole(v, max_limit, n) || n == 0)
        return "limit must be a whole number from 1 to " + std::to_string(max_limit) + ", got '" +
               shown(v) + "'";
      q.limit = size_t(n);
    } else {
      return "unknown parameter '" + shown(k) + "' (use since, pid, comm, type, limit)";
    }
  }
  return {};
}

std::string serve_view(ServeState& state) {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0)
    host[0] = '\0';
  ViewOptions o;
  o.source = "nettrace --serve";
  o.closes_known = true; // --serve asks the kernel for every close
  o.lost = state.lost_events();
  ViewBuilder b(o);
  EventQuery everything;
  everything.limit = state.limits().ring;
  for (const Record& rec : state.events(everything))
    b.add(rec, host);
  return b.finish();
}

HttpResponse handle_request(ServeState& state, const HttpRequest& req, uint64_t now_ms) {
  if (req.path == "/metrics")
    return no_params(req.query, metrics(state, now_ms));
  if (req.path == "/healthz")
    return no_params(req.query, HttpResponse{200, "text/plain; charset=utf-8", "ok\n"});
  if (req.path == "/api/events") {
    EventQuery q;
    if (std::string e = parse_event_query(req.query, std::max<size_t>(state.limits().ring, 1), q);
        !e.empty())
      return bad(e);
    return json_lines(state.events(q));
  }
  if (req.path == "/api/connections") {
    if (!req.query.empty())
      return bad("this route takes no parameters");
    return json_lines(state.connections(now_ms));
  }
  if (req.path == "/api/graph")
    return graph(state, req.query, now_ms);
  if (auto page = web_route(req, [&state] { return serve_view(state); }))
    return *page;
  return HttpResponse{404, "text/plain; charset=utf-8",
                      "no such route (try /, /metrics, /api/events, /api/connections, /api/graph, "
                      "/healthz)\n"};
}

} // namespace nt
