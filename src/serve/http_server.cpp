#include "serve/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <memory>
#include <unordered_map>

#include "tracer/errors.h"
#include "util/mono_clock.h"

namespace nt {
namespace {

std::string_view reason(int status) {
  switch (status) {
  case 200:
    return "OK";
  case 400:
    return "Bad Request";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 413:
    return "Content Too Large";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "Unknown";
  }
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// What a canned answer costs to send from the accept loop: one short write
// that a fresh socket's buffer always takes.
std::string plain(int status, std::string_view why) {
  HttpResponse r;
  r.status = status;
  r.body = std::string(why) + "\n";
  return serialize_response(r);
}

enum class Phase : uint8_t { Reading, Writing, Streaming };

struct Client {
  UniqueFd fd;
  Phase phase = Phase::Reading;
  std::string in, out;
  size_t sent = 0;
  uint64_t deadline_ms = 0;
  // Streaming: the newest state waiting while `out` is still being taken
  // (replaced, never appended to), and when the stream was last sent anything.
  std::string next;
  uint64_t last_send_ms = 0;
  bool pending() const { return sent < out.size(); }
};

constexpr uint64_t kNoDeadline = UINT64_MAX;

} // namespace

std::string parse_listen_addr(std::string_view text, ListenAddr& out) {
  ListenAddr a;
  std::string_view port = text;
  if (const size_t colon = text.rfind(':'); colon != std::string_view::npos) {
    std::string_view host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (!host.empty() && host.front() == '[') {
      if (host.size() < 3 || host.back() != ']')
        return "an IPv6 address goes in brackets: [::1]:9477";
      host = host.substr(1, host.size() - 2);
      a.family = 6;
    } else if (host.find(':') != std::string_view::npos) {
      return "an IPv6 address goes in brackets: [::1]:9477";
    }
    if (!host.empty()) {
      a.addr = std::string(host);
      unsigned char buf[16];
      if (inet_pton(a.family == 6 ? AF_INET6 : AF_INET, a.addr.c_str(), buf) != 1)
        return "'" + a.addr + "' is not a numeric IPv" + std::to_string(a.family) + " address";
    }
  }
  unsigned v = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
  if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || v == 0 || v > 65535)
    return "the port must be a whole number from 1 to 65535";
  a.port = uint16_t(v);
  out = a;
  return {};
}

int parse_request_head(std::string_view head, HttpRequest& req, std::string& why) {
  const size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  std::string_view rest = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    why = "malformed request line";
    return 400;
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    why = "only HTTP/1.0 and HTTP/1.1";
    return 505;
  }
  if (target.empty() || target.front() != '/') {
    why = "the target must be a path starting with '/'";
    return 400;
  }
  for (char c : target)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
      why = "the target holds a control, space or non-ASCII byte (percent-encode it)";
      return 400;
    }
  while (!rest.empty()) {
    const size_t e = rest.find("\r\n");
    const std::string_view h = rest.substr(0, e);
    rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e + 2);
    const size_t colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      why = "malformed header line";
      return 400;
    }
    const std::string_view name = h.substr(0, colon);
    const std::string_view value = trim(h.substr(colon + 1));
    if ((iequals(name, "Content-Length") && value != "0") || iequals(name, "Transfer-Encoding")) {
      why = "requests with a body are not accepted (every route is a GET)";
      return 413;
    }
  }
  if (method != "GET") {
    why = "only GET";
    return 405;
  }
  const size_t q = target.find('?');
  req.method = std::string(method);
  req.path = std::string(target.substr(0, q));
  req.query = q == std::string_view::npos ? std::string{} : std::string(target.substr(q + 1));
  return 0;
}

std::string serialize_response(const HttpResponse& r) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(reason(r.status));
  if (r.stream) {
    // No length: the stream ends when either side closes it.
    out += "\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n";
  } else {
    out += "\r\nContent-Type: " + r.content_type;
    out += "\r\nContent-Length: " + std::to_string(r.body.size());
    out += "\r\nConnection: close\r\nCache-Control: no-store\r\n";
  }
  out += r.headers;
  out += "\r\n";
  out += r.body;
  return out;
}

std::string sse_event(std::string_view name, std::string_view data) {
  std::string out = "event: ";
  out += name;
  out += '\n';
  // A line break inside the data would end the field: each line goes on a
  // "data:" line of its own, and the reader joins them with "\n" again.
  for (;;) {
    const size_t nl = data.find('\n');
    out += "data: ";
    out += data.substr(0, nl);
    out += '\n';
    if (nl == std::string_view::npos)
      break;
    data.remove_prefix(nl + 1);
  }
  out += '\n';
  return out;
}

HttpServer::HttpServer(const ListenAddr& addr, HttpLimits limits) : limits_(limits) {
  const int family = addr.family == 6 ? AF_INET6 : AF_INET;
  listen_.reset(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listen_)
    throw TracerError(kExitServe, std::string("--serve: socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (family == AF_INET6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(addr.port);
    inet_pton(AF_INET6, addr.addr.c_str(), &s6->sin6_addr);
    ::setsockopt(listen_.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    len = sizeof *s6;
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(addr.port);
    inet_pton(AF_INET, addr.addr.c_str(), &s4->sin_addr);
    len = sizeof *s4;
  }
  const std::string where =
      (family == AF_INET6 ? "[" + addr.addr + "]" : addr.addr) + ":" + std::to_string(addr.port);
  if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    const int e = errno;
    throw TracerError(kExitServe, "--serve " + where + ": cannot bind: " + std::strerror(e) +
                                      (e == EADDRINUSE ? " (another program listens there: pick "
                                                         "another port)"
                                                       : ""));
  }
  if (::listen(listen_.get(), 128) != 0)
    throw TracerError(kExitServe, "--serve " + where + ": listen: " + std::strerror(errno));
  sockaddr_storage got{};
  socklen_t got_len = sizeof got;
  ::getsockname(listen_.get(), reinterpret_cast<sockaddr*>(&got), &got_len);
  port_ = ntohs(family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&got)->sin6_port
                                   : reinterpret_cast<sockaddr_in*>(&got)->sin_port);
  wake_.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake_)
    throw TracerError(kExitServe, std::string("--serve: eventfd: ") + std::strerror(errno));
}

HttpServer::~HttpServer() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
    thread_.join();
  }
}

void HttpServer::start(Handler handler, CounterSink counters, StreamFeed feed) {
  handler_ = std::move(handler);
  counters_ = std::move(counters);
  feed_ = std::move(feed);
  thread_ = std::thread([this] { run(); });
}

void HttpServer::run() {
  UniqueFd ep(epoll_create1(EPOLL_CLOEXEC));
  if (!ep) {
    // Out of descriptors at start: tracing goes on, unserved, and says so.
    std::fprintf(stderr, "nettrace: --serve: epoll_create1: %s; not serving\n",
                 std::strerror(errno));
    return;
  }
  auto watch = [&](int fd, uint32_t events, int op) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    return epoll_ctl(ep.get(), op, fd, &ev) == 0;
  };
  watch(listen_.get(), EPOLLIN, EPOLL_CTL_ADD);
  watch(wake_.get(), EPOLLIN, EPOLL_CTL_ADD);
  std::unordered_map<int, std::unique_ptr<Client>> clients;
  HttpCounters counted;
  uint64_t next_poll_ms = 0;
  auto streams = [&] {
    size_t n = 0;
    for (const auto& [fd, c] : clients)
      n += c->phase == Phase::Streaming;
    return n;
  };

  // A stream with something to send waits for room in its socket; an idle
  // one only for its peer to go (RDHUP).
  auto stream_watch = [&](Client& c) {
    watch(c.fd.get(), c.pending() ? EPOLLOUT | EPOLLRDHUP : EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
  };
  auto stream_send = [&](Client& c, const std::string& text, uint64_t now) {
    if (c.pending()) {
      c.next = text; // supersedes what waited: a whole state each time
      return;
    }
    c.out = text;
    c.sent = 0;
    c.last_send_ms = now;
    c.deadline_ms = now + uint64_t(limits_.response_timeout_ms);
    stream_watch(c);
  };
  auto answer = [&](Client& c, const HttpResponse& r) {
    if (r.stream && r.status == 200) {
      if (streams() >= limits_.max_streams) {
        ++counted.refused;
        c.out = plain(503, "too many live streams open at once (" +
                               std::to_string(limits_.max_streams) + "); close one and reload");
        c.sent = 0;
        c.phase = Phase::Writing;
        c.deadline_ms = mono_ms() + uint64_t(limits_.response_timeout_ms);
        watch(c.fd.get(), EPOLLOUT, EPOLL_CTL_MOD);
        return;
      }
      c.phase = Phase::Streaming;
      c.in.clear();
      c.in.shrink_to_fit();
      stream_send(c, serialize_response(r), mono_ms());
      return;
    }
    if (r.status >= 400)
      ++counted.bad;
    c.out = serialize_response(r);
    c.sent = 0;
    c.phase = Phase::Writing;
    c.deadline_ms = mono_ms() + uint64_t(limits_.response_timeout_ms);
    watch(c.fd.get(), EPOLLOUT, EPOLL_CTL_MOD);
  };
  auto on_readable = [&](Client& c) -> bool { // false: drop the client
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
      if (n == 0)
        return false;
      if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      c.in.append(buf, size_t(n));
      const size_t end = c.in.find("\r\n\r\n");
      if (end != std::string::npos && end + 4 <= limits_.max_request_bytes) {
        HttpRequest req;
        std::string why;
        const int bad = parse_request_head(std::string_view(c.in).substr(0, end), req, why);
        HttpResponse r;
        if (bad) {
          r.status = bad;
          r.body = why + "\n";
        } else {
          try {
            r = handler_(req);
          } catch (const std::exception& e) {
            r = HttpResponse{500, "text/plain; charset=utf-8", std::string(e.what()) + "\n"};
          }
        }
        answer(c, r);
        return true;
      }
      if (c.in.size() > limits_.max_request_bytes) {
        answer(c, HttpResponse{431, "text/plain; charset=utf-8",
                               "request head larger than " +
                                   std::to_string(limits_.max_request_bytes) + " bytes\n"});
        return true;
      }
    }
  };
  // A stream: sends what is pending, then what waited; reads and drops what
  // the peer sends (nothing is expected). False when the peer went.
  auto on_stream = [&](Client& c, uint32_t events) -> bool {
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
      return false;
    if (events & EPOLLIN) {
      char buf[512];
      const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        return false;
    }
    const uint64_t now = mono_ms();
    while (c.pending()) {
      const ssize_t n =
          ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
          break;
        return false;
      }
      c.sent += size_t(n);
      c.deadline_ms = now + uint64_t(limits_.response_timeout_ms); // it takes: time again
      if (!c.pending() && !c.next.empty()) {
        c.out.swap(c.next);
        c.next.clear();
        c.sent = 0;
        c.last_send_ms = now;
      }
    }
    if (!c.pending()) {
      c.out.clear();
      c.deadline_ms = kNoDeadline;
    }
    stream_watch(c);
    return true;
  };
  auto on_writable = [&](Client& c) -> bool { // false: done or gone
    while (c.sent < c.out.size()) {
      const ssize_t n =
          ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      c.sent += size_t(n);
    }
    return false;
  };

  for (;;) {
    epoll_event evs[64];
    const int n = epoll_wait(ep.get(), evs, 64, 100);
    if (n < 0 && errno != EINTR)
      return;
    for (int i = 0; i < n; ++i) {
      const int fd = evs[i].data.fd;
      if (fd == wake_.get())
        return; // clients close with their owners
      if (fd == listen_.get()) {
        for (;;) {
          UniqueFd cfd(::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
          if (!cfd)
            break; // EAGAIN, or out of descriptors: the backlog waits
          if (clients.size() >= limits_.max_clients) {
            // Full: the client that has waited longest for its own request
            // to arrive makes room (a slowloris holds its slot until someone
            // needs it, not until its deadline). Only when every client is
            // taking a response is the newcomer refused.
            auto oldest = clients.end();
            for (auto it = clients.begin(); it != clients.end(); ++it)
              if (it->second->phase == Phase::Reading &&
                  (oldest == clients.end() ||
                   it->second->deadline_ms < oldest->second->deadline_ms))
                oldest = it;
            if (oldest == clients.end()) {
              static const std::string busy = plain(503, "too many clients at once; try again");
              [[maybe_unused]] ssize_t w =
                  ::send(cfd.get(), busy.data(), busy.size(), MSG_NOSIGNAL);
              ++counted.refused;
              continue;
            }
            static const std::string cut =
                plain(408, "request not complete; made room for another");
            [[maybe_unused]] ssize_t w =
                ::send(oldest->first, cut.data(), cut.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            ++counted.refused;
            clients.erase(oldest);
          }
          auto c = std::make_unique<Client>();
          c->deadline_ms = mono_ms() + uint64_t(limits_.request_timeout_ms);
          c->fd = std::move(cfd);
          const int key = c->fd.get();
          if (watch(key, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD))
            clients.emplace(key, std::move(c));
        }
        continue;
      }
      auto it = clients.find(fd);
      if (it == clients.end())
        continue;
      Client& c = *it->second;
      bool keep = true;
      if (c.phase == Phase::Reading)
        keep =
            (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ? on_readable(c) : true;
      else if (c.phase == Phase::Streaming)
        keep = on_stream(c, evs[i].events);
      if (keep && c.phase == Phase::Writing)
        keep = on_writable(c);
      if (!keep)
        clients.erase(it);
    }
    const uint64_t now = mono_ms();
    // Streams: the feed's newest state, or a keep-alive comment on one idle
    // that long (a peer that vanished then shows as an error).
    if (now >= next_poll_ms) {
      next_poll_ms = now + uint64_t(limits_.stream_poll_ms);
      if (feed_ && streams() > 0) {
        std::string text;
        try {
          text = feed_();
        } catch (const std::exception& e) {
          std::fprintf(stderr, "nettrace: --serve: live view: %s\n", e.what());
        }
        for (auto& [fd, c] : clients)
          if (c->phase == Phase::Streaming && !text.empty())
            stream_send(*c, text, now);
      }
      static const std::string keepalive = ": keep-alive\n\n";
      for (auto& [fd, c] : clients)
        if (c->phase == Phase::Streaming && !c->pending() &&
            now >= c->last_send_ms + uint64_t(limits_.keepalive_ms))
          stream_send(*c, keepalive, now);
    }
    // Deadlines: a slow reader or writer is cut, whatever it still sends (a
    // stream: when it took nothing of what is pending for that long).
    for (auto it = clients.begin(); it != clients.end();) {
      if (now >= it->second->deadline_ms) {
        if (it->second->phase == Phase::Reading) {
          static const std::string late = plain(408, "request not complete in time");
          [[maybe_unused]] ssize_t w =
              ::send(it->first, late.data(), late.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        ++counted.timeouts;
        it = clients.erase(it);
      } else {
        ++it;
      }
    }
    if (counters_ && (counted.refused || counted.timeouts || counted.bad)) {
      counters_(counted);
      counted = {};
    }
  }
}

} // namespace nt
