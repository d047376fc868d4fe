// nettrace --serve: the options, the sink the run loop feeds, and the server
// that owns the state, the HTTP thread and the sink. run.cpp binds (the
// constructor) before privileges drop and starts the thread after.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "serve/http_server.h"
#include "serve/serve_config.h"
#include "serve/serve_state.h"
#include "tracer/pipeline.h"

namespace nt {

// The loop's side: gathers a tick's records and hands them over in one
// ServeState::apply(); once a second, polls the tracer's own figures.
class ServeSink final : public Sink {
public:
  using HealthPoll = std::function<void(ServeState&)>;
  ServeSink(ServeState& state, HealthPoll poll);
  void record(const Record& r) override { pending_.push_back(r); }
  bool tick() override;

private:
  ServeState& state_;
  HealthPoll poll_;
  std::vector<Record> pending_;
  uint64_t last_poll_ms_ = 0;
};

class Server {
public:
  // Binds now; throws TracerError(kExitServe) when it cannot.
  Server(const ServeConfig& config, ServeSink::HealthPoll poll);
  // After privileges drop (see HttpServer::start).
  void start();
  Sink& sink() { return sink_; }
  ServeState& state() { return state_; }
  uint16_t port() const { return http_.port(); }
  // "5 connections and 1 failed connect served" (the exit summary).
  std::string summary();

private:
  ServeState state_;
  ServeSink sink_;
  HttpServer http_;
};

uint64_t serve_clock_ms(); // CLOCK_MONOTONIC, the clock ServeState's times are on

} // namespace nt
