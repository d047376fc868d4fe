// The live page's routes, for nettrace --serve and netgraph --serve alike:
// "/" (the page), its script and style sheet (embedded in the binary at build
// time from src/web/page/: the page needs nothing from the network), the view
// as JSON (/api/view) and as Server-Sent Events (/api/view/stream).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "serve/http_server.h"

namespace nt {

struct WebAsset {
  std::string_view path; // "/", "/app.js", ...
  std::string_view content_type;
  std::string_view body;
};
// The embedded files (generated from src/web/page/ by src/web/embed.cmake).
std::span<const WebAsset> web_assets();

// Makes the view JSON now (view.h). Called on the HTTP thread.
using ViewMaker = std::function<std::string()>;

// The answer for the page's routes, or nullopt for any other path. Every
// answer carries a Content-Security-Policy that lets the page run only its
// own script (no inline script, no other origin): a name that got past the
// page's escaping still could not run.
std::optional<HttpResponse> web_route(const HttpRequest& req, const ViewMaker& view);

// The server's stream feed (HttpServer::StreamFeed): the view as an event when
// `generation` moved since the last one sent, else "". Making a view of a
// full ring takes a while (about 0.4 s for 100,000 records here): after one
// that took T, the next is made no sooner than 4 T later, so an open page
// costs the server thread at most a fifth of its time, whatever the load.
class ViewFeed {
public:
  using Clock = std::function<uint64_t()>; // milliseconds, monotonic
  ViewFeed(std::function<uint64_t()> generation, ViewMaker view, Clock now_ms = {});
  std::string operator()();

private:
  std::function<uint64_t()> generation_;
  ViewMaker view_;
  Clock now_ms_;
  uint64_t sent_ = 0;
  bool any_ = false;
  uint64_t not_before_ms_ = 0;
};

// The headers every page answer carries (the CSP and friends).
extern const std::string_view kWebHeaders;

} // namespace nt
