// A small HTTP/1.1 server for nettrace --serve: one thread, one epoll set,
// non-blocking sockets, one request per connection (Connection: close).
// Bounded by construction, so hostile clients cannot hold it: a cap on
// clients at once (when full, the client that has waited longest for its
// request to arrive is cut to make room; 503 only when every client is
// taking a response), on the request head's
// size (431), and a deadline for the whole request (slowloris: a byte now and
// then does not extend it) and for the whole response. Requests with a body
// are refused (413): every route is a GET.
//
// Streams (Server-Sent Events, for the live page): a route may answer with a
// stream that stays open. What a stream is sent comes from the server's feed,
// polled about once a second; each text the feed gives is a whole state that
// supersedes the one before, so a slow stream client holds at most the text it
// is taking and the newest one waiting (never a growing queue), and one that
// takes nothing for the response deadline is cut. Streams are capped apart
// (max_streams) so they never take the slots ordinary requests need.
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
  size_t max_streams = 16;         // open event streams at once (within max_clients)
  int stream_poll_ms = 1000;       // how often the feed is asked for a new state
  int keepalive_ms = 15000;        // a comment line on an idle stream, so dead peers show
};

struct HttpRequest {
  std::string method, path, query; // query: the text after '?', still percent-encoded
};

struct HttpResponse {
  HttpResponse() = default;
  HttpResponse(int s, std::string type, std::string text)
      : status(s), content_type(std::move(type)), body(std::move(text)) {}
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Extra header lines, each ending in "\r\n" (the page's Content-Security-Policy).
  std::string headers;
  // A stream (text/event-stream): no Content-Length, the connection stays
  // open, `body` is its first event and the feed sends the rest.
  bool stream = false;
};

// Parses a request head (up to and without the blank line). Returns 0 when
// good, or the status to answer with (400, 405, 413, 505) and why in `why`.
int parse_request_head(std::string_view head, HttpRequest& req, std::string& why);

// "HTTP/1.1 <status> <reason>" and the headers, then the body.
std::string serialize_response(const HttpResponse& r);

struct HttpCounters {
  uint64_t refused = 0, timeouts = 0, bad = 0;
};

// One Server-Sent Event: "event: NAME" and the data, one "data:" line per
// line of `data`, then the blank line.
std::string sse_event(std::string_view name, std::string_view data);

class HttpServer {
public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Called on the server thread after each loop turn with what was refused
  // or cut since the last call (for /metrics).
  using CounterSink = std::function<void(const HttpCounters&)>;
  // Called on the server thread every stream_poll_ms while a stream is open:
  // the text to send every stream (a whole state, see above), or "" when
  // nothing changed.
  using StreamFeed = std::function<std::string()>;

  // Binds and listens now (before privileges are dropped). Throws
  // TracerError(kExitServe) with the reason when it cannot.
  HttpServer(const ListenAddr& addr, HttpLimits limits);
  ~HttpServer(); // stops the thread and closes every client
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Starts the thread. Start it after privileges are dropped: capabilities are
  // per thread, and a thread made before the drop would keep them.
  void start(Handler handler, CounterSink counters, StreamFeed feed = {});
  uint16_t port() const { return port_; }

private:
  void run();
  HttpLimits limits_;
  UniqueFd listen_, wake_;
  uint16_t port_ = 0;
  Handler handler_;
  CounterSink counters_;
  StreamFeed feed_;
  std::thread thread_;
};

} // namespace nt
