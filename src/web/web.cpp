#include "web/web.h"
#include "util/mono_clock.h"

namespace nt {

const std::string_view kWebHeaders =
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Referrer-Policy: no-referrer\r\n";

std::optional<HttpResponse> web_route(const HttpRequest& req, const ViewMaker& view) {
  auto with_headers = [](HttpResponse r) {
    r.headers = std::string(kWebHeaders);
    return r;
  };
  if (req.path == "/api/view" || req.path == "/api/view/stream") {
    if (!req.query.empty())
      return with_headers(
          HttpResponse{400, "text/plain; charset=utf-8", "this route takes no parameters\n"});
    HttpResponse r;
    if (req.path == "/api/view") {
      r.content_type = "application/json";
      r.body = view();
    } else {
      // The first event is the whole view; the feed sends each new one.
      // "retry": how soon the browser reconnects when the stream breaks.
      r.stream = true;
      r.body = "retry: 2000\n\n" + sse_event("view", view());
    }
    return with_headers(std::move(r));
  }
  for (const WebAsset& a : web_assets())
    if (req.path == a.path) {
      if (!req.query.empty())
        return with_headers(
            HttpResponse{400, "text/plain; charset=utf-8", "this route takes no parameters\n"});
      return with_headers(HttpResponse{200, std::string(a.content_type), std::string(a.body)});
    }
  return std::nullopt;
}

ViewFeed::ViewFeed(std::function<uint64_t()> generation, ViewMaker view, Clock now_ms)
    : generation_(std::move(generation)), view_(std::move(view)), now_ms_(std::move(now_ms)) {
  if (!now_ms_)
    now_ms_ = mono_ms;
}

std::string ViewFeed::operator()() {
  const uint64_t g = generation_();
  if (any_ && g == sent_)
    return {};
  const uint64_t start = now_ms_();
  if (start < not_before_ms_)
    return {}; // changed, but the last view was costly: later
  any_ = true;
  sent_ = g;
  std::string event = sse_event("view", view_());
  not_before_ms_ = start + 5 * (now_ms_() - start); // made for T, then 4 T of rest
  return event;
}

} // namespace nt
