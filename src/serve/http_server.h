// A small HTTP/1.1 server for nettrace --serve: one thread, one epoll set,
// non-blocking sockets, one request per connection (Connection: close).
// Bounded by construction, so hostile clients cannot hold it: a cap on
// clients at once (when full, the client that has waited longest for its
// request to arrive is cut to make room; 503 only when every client is
// taking a response), on the request head's
// size (431), and a deadline for the whole request (slowloris: a byte now and
// then does not extend it) and for the whole response. Requests with a body
// are refused (413): every route is a GET.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

#include "util/unique_fd.h"

namespace nt {

// Where to listen: "PORT", ":PORT", "ADDR:PORT" or "[V6ADDR]:PORT"; ADDR is
// numeric (no name lookup before privileges drop). Without ADDR: 127.0.0.1.
inline constexpr uint16_t kDefaultServePort = 9477;
struct ListenAddr {
  int family = 4;
  std::string addr = "127.0.0.1";
  uint16_t port = kDefaultServePort;
};
// "" or why `text` is not a listen address.
std::string parse_listen_addr(std::string_view text, ListenAddr& out);

struct HttpLimits {
  size_t max_request_bytes = 8192; // request line and headers
  size_t max_clients = 64;         // connections open at once
  int request_timeout_ms = 5000;   // the whole request head must arrive within this
  int response_timeout_ms = 10000; // the whole response must be taken within this
};

struct HttpRequest {
  std::string method, path, query; // query: the text after '?', still percent-encoded
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Parses a request head (up to and without the blank line). Returns 0 when
// good, or the status to answer with (400, 405, 413, 505) and why in `why`.
int parse_request_head(std::string_view head, HttpRequest& req, std::string& why);

// "HTTP/1.1 <status> <reason>" and the headers, then the body.
std::string serialize_response(const HttpResponse& r);

struct HttpCounters {
  uint64_t refused = 0, timeouts = 0, bad = 0;
};

class HttpServer {
public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Called on the server thread after each loop turn with what was refused
  // or cut since the last call (for /metrics).
  using CounterSink = std::function<void(const HttpCounters&)>;

  // Binds and listens now (before privileges are dropped). Throws
  // TracerError(kExitServe) with the reason when it cannot.
  HttpServer(const ListenAddr& addr, HttpLimits limits);
  ~HttpServer(); // stops the thread and closes every client
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Starts the thread. Start it after privileges are dropped: capabilities are
  // per thread, and a thread made before the drop would keep them.
  void start(Handler handler, CounterSink counters);
  uint16_t port() const { return port_; }

private:
  void run();
  HttpLimits limits_;
  UniqueFd listen_, wake_;
  uint16_t port_ = 0;
  Handler handler_;
  CounterSink counters_;
  std::thread thread_;
};

} // namespace nt
