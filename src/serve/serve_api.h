// The routes of nettrace --serve, over a ServeState: /metrics, /api/events,
// /api/connections, /api/graph, /healthz. Runs on the HTTP thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "serve/http_server.h"
#include "serve/serve_state.h"

namespace nt {

// "a=1&b=x%20y" into its decoded pairs. "" or why not (a bad escape, a key
// given twice).
std::string parse_query(std::string_view query,
                        std::vector<std::pair<std::string, std::string>>& out);

// /api/events's parameters; "" or the one-line reason for a 400.
std::string parse_event_query(std::string_view query, size_t max_limit, EventQuery& q);

HttpResponse handle_request(ServeState& state, const HttpRequest& req, uint64_t now_ms);

// The live page's view (src/web/view.h) of the recent records (the ring
// /api/events serves), on this host, with the tracer's lost events.
std::string serve_view(ServeState& state);

} // namespace nt
