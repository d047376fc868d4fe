#include "tracer/serve_cli.h"

#include <memory>

#include "tracer/cli_values.h"

namespace nt {

std::function<std::string()> declare_serve_options(CLI::App& app, ServeConfig& c) {
  auto listen = std::make_shared<std::string>();
  CLI::Option* serve =
      app.add_option("--serve", *listen,
                     "Run as a service: keep a map of the host's connections and serve it over "
                     "HTTP at [ADDR:]PORT (default 127.0.0.1:" +
                         std::to_string(kDefaultServePort) +
                         "): /metrics, /api/events, /api/connections, /api/graph, /healthz. "
                         "Lines on stdout stop unless --serve-lines")
          ->type_name("[ADDR:]PORT")
          ->expected(0, 1);
  app.add_flag("--serve-lines", c.lines, "With --serve, also write the lines on stdout");
  auto expire_s = std::make_shared<double>(double(c.limits.expire_ms) / 1000);
  app.add_option("--serve-expire", *expire_s,
                 "With --serve, forget edges and connections idle this long (default 300)")
      ->type_name("SECONDS")
      ->check(seconds("a number of seconds greater than 0 and at most 1000000000", 1e9));
  app.add_option("--serve-max-edges", c.limits.max_edges,
                 "With --serve, at most N edges get series; past it nettrace_edge_overflow_total "
                 "counts what was cut (default 10000)")
      ->type_name("N")
      ->check(whole_number("a whole number of edges from 1 to 10000000", 1, 10000000));
  app.add_option("--serve-ring", c.limits.ring,
                 "With --serve, keep the last N records for /api/events (default 100000)")
      ->type_name("N")
      ->check(whole_number("a whole number of records from 1 to 100000000", 1, 100000000));
  app.add_option("--serve-max-clients", c.http.max_clients,
                 "With --serve, at most N HTTP clients at once; more get 503 (default 64)")
      ->type_name("N")
      ->check(whole_number("a whole number of clients from 1 to 10000", 1, 10000));
  return [&app, &c, serve, listen, expire_s]() -> std::string {
    c.limits.expire_ms = uint64_t(*expire_s * 1000);
    c.enabled = serve->count() > 0;
    const bool companion = c.lines || app.count("--serve-expire") ||
                           app.count("--serve-max-edges") || app.count("--serve-ring") ||
                           app.count("--serve-max-clients");
    if (!c.enabled)
      return companion ? "--serve-lines, --serve-expire, --serve-max-edges, --serve-ring and "
                         "--serve-max-clients need --serve"
                       : "";
    if (app.count("--count") && !c.lines)
      return "--count counts the lines on stdout, which --serve turns off: add --serve-lines, or "
             "end the run with --duration";
    if (listen->empty())
      return {};
    if (std::string why = parse_listen_addr(*listen, c.addr); !why.empty())
      return "--serve: expected [ADDR:]PORT, got '" + *listen + "' (" + why + ")";
    return {};
  };
}

} // namespace nt
