#include "web/web.h"

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

std::string ViewFeed::operator()() {
  const uint64_t g = generation_();
  if (any_ && g == sent_)
    return {};
  any_ = true;
  sent_ = g;
  return sse_event("view", view_());
}

} // namespace nt
