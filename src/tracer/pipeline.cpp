#include "tracer/pipeline.h"

#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tracer/errors.h"
#include "util/mono_clock.h"

namespace nt {

ConnectionKey connection_key(const Record& r) {
  ConnectionKey k{};
  std::memcpy(k.data(), &r.netns, 4);
  size_t at = 4;
  for (const Endpoint* ep : {&r.local, &r.remote}) {
    k[at] = ep->ip.family;
    std::memcpy(k.data() + at + 1, ep->ip.bytes.data(), 16);
    std::memcpy(k.data() + at + 17, &ep->port, 2);
    at += 19;
  }
  return k;
}
namespace {

// An epoll tag: which list and which entry.
constexpr uint64_t kSinkTag = 1ull << 32;

} // namespace

RunLoop::RunLoop() : ep_(epoll_create1(EPOLL_CLOEXEC)) {
  if (!ep_)
    throw TracerError(kExitRuntime, std::string("epoll_create1: ") + std::strerror(errno));
}

void RunLoop::watch(int fd, uint32_t events, uint64_t tag) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  // A regular file or /dev/null cannot be watched (EPERM), and never closes
  // under us or wakes us either.
  if (epoll_ctl(ep_.get(), EPOLL_CTL_ADD, fd, &ev) != 0 && errno != EPERM)
    throw TracerError(kExitRuntime, "cannot watch descriptor " + std::to_string(fd) + ": " +
                                        std::strerror(errno));
}

void RunLoop::add(Source& s) {
  if (s.fd() >= 0)
    watch(s.fd(), EPOLLIN, sources_.size());
  sources_.push_back(&s);
}

void RunLoop::add(Sink& s) {
  // Only EPOLLERR and EPOLLHUP, which epoll always reports: a pipe's write end
  // reports EPOLLERR once its reader closed (a tty or socket EPOLLHUP), so a
  // quiet `nettrace | head -3` ends within one tick even with no event to
  // fail a write.
  if (s.fd() >= 0)
    watch(s.fd(), 0, kSinkTag | sinks_.size());
  sinks_.push_back(&s);
}

bool RunLoop::drain_and_tick(bool last) {
  const RecordCallback to_sinks = [this](const Record& r) {
    for (Sink* sink : sinks_)
      sink->record(r);
  };
  for (Source* src : sources_)
    src->drain(to_sinks);
  if (last)
    for (Source* src : sources_)
      src->finish(to_sinks);
  bool open = true;
  for (Sink* sink : sinks_)
    open = sink->tick() && open;
  return open;
}

LoopEnd RunLoop::run(const volatile std::sig_atomic_t& stop, const LoopOptions& o) {
  const uint64_t deadline = o.duration_s > 0 ? mono_ms() + uint64_t(o.duration_s * 1000) : 0;
  LoopEnd end = LoopEnd::Stopped;
  auto all_finished = [this] {
    return std::all_of(sources_.begin(), sources_.end(), [](Source* s) { return s->finished(); });
  };
  auto sinks_done = [this] {
    return std::any_of(sinks_.begin(), sinks_.end(), [](Sink* s) { return !s->wants_more(); });
  };
  for (;;) {
    if (stop) {
      end = LoopEnd::Stopped;
      break;
    }
    int timeout = o.tick_ms;
    if (deadline) {
      const uint64_t now = mono_ms();
      if (now >= deadline) {
        end = LoopEnd::Duration;
        break;
      }
      timeout = int(std::min<uint64_t>(uint64_t(timeout), deadline - now));
    }
    epoll_event ev[8];
    const int n = epoll_wait(ep_.get(), ev, 8, timeout);
    if (n < 0 && errno != EINTR)
      throw TracerError(kExitRuntime, std::string("epoll_wait: ") + std::strerror(errno));
    bool gone = false;
    for (int i = 0; i < n; ++i)
      if ((ev[i].data.u64 & kSinkTag) && (ev[i].events & (EPOLLERR | EPOLLHUP))) {
        sinks_[ev[i].data.u64 & ~kSinkTag]->reader_gone();
        gone = true;
      }
    if (gone)
      return LoopEnd::SinkClosed;
    if (!drain_and_tick())
      return LoopEnd::SinkClosed;
    if (sinks_done()) {
      end = LoopEnd::SinkDone;
      break;
    }
    if (o.stop_when_sources_finish && all_finished()) {
      end = LoopEnd::SourcesDone;
      break;
    }
  }
  // One last drain so nothing already waiting is lost at a clean stop.
  return drain_and_tick(true) ? end : LoopEnd::SinkClosed;
}

} // namespace nt
