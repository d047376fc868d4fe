// What nettrace --serve is asked to do (the command line fills it:
// tracer/serve_cli.cpp).
#pragma once

#include "serve/http_server.h"
#include "serve/serve_state.h"

namespace nt {

struct ServeConfig {
  bool enabled = false;
  ListenAddr addr;
  // Also the lines on stdout. Off by default: a service's stdout is its
  // journal, and every connection written there twice (journal and API) costs
  // the host for nothing; the same lines are at /api/events.
  bool lines = false;
  ServeLimits limits;
  HttpLimits http;
};

} // namespace nt
