// libFuzzer target: what a hostile HTTP client can send nettrace --serve. Any
// bytes as a request head go through parse_request_head (an error status xor a
// GET of a path starting with '/'), and a request it takes goes through the
// routes over a small map: every answer is a known status, and every refusal
// is one line saying why.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "serve/serve_api.h"
#include "serve/serve_state.h"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

nt::ServeState& state() {
  static nt::ServeState* s = [] {
    auto* st = new nt::ServeState(nt::ServeLimits{});
    nt::Record r;
    r.local.ip.family = 4;
    r.local.ip.bytes = {10, 0, 0, 1};
    r.local.port = 40000;
    r.remote.ip.family = 4;
    r.remote.ip.bytes = {10, 0, 0, 2};
    r.remote.port = 80;
    r.pid = 7;
    r.comm = "curl";
    r.time_ns = 5;
    std::vector<nt::Record> batch = {r};
    st->apply(batch, 1);
    return st;
  }();
  return *s;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view head(reinterpret_cast<const char*>(data), size);
  nt::HttpRequest req;
  std::string why;
  const int status = nt::parse_request_head(head, req, why);
  if (status != 0) {
    check(status == 400 || status == 405 || status == 413 || status == 505, "known error status");
    check(!why.empty() && why.find('\n') == std::string::npos, "one-line reason");
    return 0;
  }
  check(req.method == "GET", "only GET is taken");
  check(!req.path.empty() && req.path[0] == '/', "a path starting with '/'");
  // SVG would lay the graph out with Graphviz on every input: dot and json
  // draw through the same builder.
  if (req.query.find("svg") != std::string::npos)
    return 0;
  const nt::HttpResponse r = nt::handle_request(state(), req, 1);
  check(r.status == 200 || r.status == 400 || r.status == 404, "known route status");
  if (r.status == 400) {
    check(r.body.size() > 1 && r.body.back() == '\n' && r.body.find('\n') == r.body.size() - 1,
          "a 400 is one line");
  }
  return 0;
}
