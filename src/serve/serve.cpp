#include "serve/serve.h"

#include "serve/serve_api.h"
#include "util/mono_clock.h"
#include "web/web.h"

namespace nt {

uint64_t serve_clock_ms() {
  return mono_ms();
}

ServeSink::ServeSink(ServeState& state, HealthPoll poll) : state_(state), poll_(std::move(poll)) {
  pending_.reserve(1 << 12);
}

bool ServeSink::tick() {
  const uint64_t now = serve_clock_ms();
  if (!pending_.empty()) {
    state_.apply(pending_, now);
    pending_.clear();
  }
  if (poll_ && now >= last_poll_ms_ + 1000) {
    last_poll_ms_ = now;
    poll_(state_);
  }
  return true;
}

Server::Server(const ServeConfig& config, ServeSink::HealthPoll poll)
    : state_(config.limits), sink_(state_, std::move(poll)), http_(config.addr, config.http) {}

void Server::start() {
  http_.start(
      [this](const HttpRequest& req) { return handle_request(state_, req, serve_clock_ms()); },
      [this](const HttpCounters& c) { state_.count_http(c.refused, c.timeouts, c.bad); },
      ViewFeed(
          // Both only grow: their sum moves when either does.
          [this] { return state_.generation() + state_.lost_events(); },
          [this] { return serve_view(state_); }));
}

std::string Server::summary() {
  const MetricsSnapshot s = state_.metrics(serve_clock_ms());
  uint64_t connections = 0, failed = 0;
  for (const KindInfo& k : kinds()) {
    if (k.pairs)
      connections += s.health.events[size_t(k.type)];
    else if (k.type == RecordType::Failed)
      failed += s.health.events[size_t(k.type)];
  }
  return std::to_string(connections) + (connections == 1 ? " connection" : " connections") +
         " and " + std::to_string(failed) + (failed == 1 ? " failed connect" : " failed connects") +
         " served";
}

} // namespace nt
