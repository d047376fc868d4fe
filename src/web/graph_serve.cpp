#include "web/graph_serve.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "graph/fleet.h"
#include "graph/reader.h"
#include "serve/http_server.h"
#include "trace/parse.h"
#include "util/unique_fd.h"
#include "web/view.h"
#include "web/web.h"

namespace nt {
namespace {

struct ViewFeeder final : LineConsumer {
  ViewBuilder& builder;
  std::string host;
  LineParser parser;
  Record rec;
  uint64_t bad = 0;
  ViewFeeder(ViewBuilder& b, std::string h) : builder(b), host(std::move(h)) {}
  void on_line(std::string_view line, uint64_t, bool overlong) override {
    if (overlong) {
      ++bad;
      return;
    }
    const ParseResult r = parser.parse(line, rec);
    if (r.kind == ParseKind::Record)
      builder.add(rec, host);
    else if (r.kind == ParseKind::Error)
      ++bad;
  }
};

ViewOptions view_options(const NetgraphConfig& c) {
  ViewOptions o;
  o.source = "netgraph --serve";
  o.graph = c.graph;
  o.present = c.present;
  return o;
}

// The newest view, for the HTTP thread, and a number that moves with it.
struct Published {
  std::mutex mu;
  std::string view;
  std::atomic<uint64_t> generation{0};
  void set(std::string v) {
    std::lock_guard lock(mu);
    view = std::move(v);
    generation.fetch_add(1, std::memory_order_relaxed);
  }
  std::string get() {
    std::lock_guard lock(mu);
    return view;
  }
};

std::optional<std::string> fleet_view(const NetgraphConfig& c, int& code) {
  Graph g;
  if (auto bad = prometheus_graph(c, g)) {
    code = *bad;
    return std::nullopt;
  }
  ViewOptions o = view_options(c);
  o.source = "netgraph --serve --prometheus (last " + c.range + ")";
  return view_of_graph(std::move(g), o);
}

} // namespace

std::string view_of_traces(const NetgraphConfig& c, std::string& error) {
  ViewBuilder builder(view_options(c)); // throws std::invalid_argument on a bad regex
  uint64_t bad = 0;
  for (const std::string& in : c.inputs) {
    UniqueFd owned;
    if (in != "-")
      owned.reset(::open(in.c_str(), O_RDONLY | O_CLOEXEC));
    const int fd = in == "-" ? STDIN_FILENO : owned.get();
    if (fd < 0) {
      error = "cannot open " + in + ": " + std::strerror(errno);
      return {};
    }
    // Each file is a host, named as netgraph names it (the file's stem).
    ViewFeeder feed(builder, in == "-" ? c.host : std::filesystem::path(in).stem().string());
    std::string why;
    if (!read_lines(fd, 1 << 20, feed, why)) {
      error = "cannot read " + in + ": " + why;
      return {};
    }
    bad += feed.bad;
  }
  if (bad)
    std::fprintf(stderr, "netgraph: %llu lines were not trace lines and were skipped\n",
                 static_cast<unsigned long long>(bad));
  return builder.finish();
}

int run_netgraph_serve(const NetgraphConfig& c) {
  ListenAddr addr;
  if (std::string why = parse_listen_addr(c.serve, addr); !why.empty()) {
    std::fprintf(stderr, "netgraph: --serve %s: %s\n", c.serve.c_str(), why.c_str());
    return kNgUsage;
  }
  Published published;
  const bool fleet = !c.prometheus.empty();
  if (fleet) {
    int code = 0;
    auto v = fleet_view(c, code);
    if (!v)
      return code;
    published.set(std::move(*v));
  } else {
    std::string error, v;
    try {
      v = view_of_traces(c, error);
    } catch (const std::invalid_argument& e) {
      std::fprintf(stderr, "netgraph: bad regular expression: %s\n", e.what());
      return kNgUsage;
    }
    if (!error.empty()) {
      std::fprintf(stderr, "netgraph: %s\n", error.c_str());
      return kNgInput;
    }
    published.set(std::move(v));
  }

  // SIGINT and SIGTERM end the serving: blocked here (before any thread
  // starts, so every thread inherits the mask) and taken by sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &stop_signals, &old);
  struct Restore {
    sigset_t mask;
    ~Restore() { pthread_sigmask(SIG_SETMASK, &mask, nullptr); }
  } restore{old};

  std::unique_ptr<HttpServer> server;
  try {
    server = std::make_unique<HttpServer>(addr, HttpLimits{});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "netgraph: %s\n", e.what());
    return kNgServe;
  }
  auto view = [&published] { return published.get(); };
  server->start(
      [view](const HttpRequest& req) {
        if (auto page = web_route(req, view))
          return *page;
        if (req.path == "/healthz")
          return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
        return HttpResponse{404, "text/plain; charset=utf-8",
                            "no such route (try /, /api/view, /healthz)\n"};
      },
      {}, ViewFeed([&published] { return published.generation.load(); }, view));

  // The fleet: asked again every --refresh seconds, off the HTTP thread (an
  // answer can take seconds); a failed ask keeps the last view and says why.
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::thread refresher;
  if (fleet)
    refresher = std::thread([&] {
      std::unique_lock lock(stop_mu);
      while (!stop_cv.wait_for(lock, std::chrono::seconds(c.refresh_s), [&] { return stopping; })) {
        lock.unlock();
        int code = 0;
        if (auto v = fleet_view(c, code))
          published.set(std::move(*v));
        lock.lock();
      }
    });

  const bool v6 = addr.family == 6;
  std::fprintf(stderr, "netgraph: serving %s at http://%s%s%s:%u/ (Ctrl-C to stop)\n",
               fleet ? "the fleet" : "the graph", v6 ? "[" : "", addr.addr.c_str(), v6 ? "]" : "",
               unsigned(server->port()));
  int sig = 0;
  sigwait(&stop_signals, &sig);
  {
    std::lock_guard lock(stop_mu);
    stopping = true;
  }
  stop_cv.notify_all();
  if (refresher.joinable())
    refresher.join();
  server.reset();
  return kNgOk;
}

} // namespace nt
