#include "tracer/line_sink.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "trace/format.h"
#include "tracer/errors.h"

namespace nt {
namespace {

// Writes everything or reports why not; `written` is how many bytes went out.
// EPIPE is not an error for the caller: it is how a reader says it has had
// enough.
enum class WriteResult { Ok, Closed, Failed };

WriteResult write_all(int fd, const std::string& buf, size_t& written) {
  written = 0;
  while (written < buf.size()) {
    ssize_t n = ::write(fd, buf.data() + written, buf.size() - written);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return errno == EPIPE ? WriteResult::Closed : WriteResult::Failed;
    }
    written += size_t(n);
  }
  return WriteResult::Ok;
}

// "1 connection" / "2 connections".
std::string count_of(uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

} // namespace

LineSink::LineSink(int fd, LineSinkOptions options)
    : fd_(fd), options_(std::move(options)), written_(kinds().size()), hidden_(kinds().size()) {
  buf_.reserve(1 << 20);
  pending_.reserve(1 << 14);
}

void LineSink::record(const Record& r) {
  const KindInfo& k = kind_info(r.type);
  if (options_.count && connections_ >= options_.count && k.connection) {
    ++after_count_;
    return;
  }
  if (!k.shown_with.empty() && !options_.json && !options_.show_all &&
      std::find(options_.shown_with.begin(), options_.shown_with.end(), k.shown_with) ==
          options_.shown_with.end()) {
    ++hidden_[size_t(r.type)];
    return;
  }
  if (options_.json) {
    append_json(buf_, r);
  } else {
    if (options_.timestamp)
      clock_.append(buf_, r.time_ns);
    append_arrow(buf_, r);
    if (k.connection && r.has_nat()) {
      // nettrace --nat (issue 16): the translation as a "# nat" marker line
      // after its connection line, which stays what it always was.
      nat_.type = RecordType::Nat;
      nat_.nat_remote = r.nat_remote;
      nat_.nat_local = r.nat_local;
      append_arrow(buf_, nat_);
    }
  }
  pending_.emplace_back(buf_.size(), r.type);
  if (k.pairs)
    ++connections_;
}

bool LineSink::tick() {
  if (closed_)
    return false;
  if (buf_.empty())
    return true;
  size_t sent = 0;
  const WriteResult w = write_all(fd_, buf_, sent);
  const int saved = errno;
  for (const auto& [end, type] : pending_) {
    if (end > sent)
      ++unwritten_;
    else
      ++written_[size_t(type)];
  }
  buf_.clear();
  pending_.clear();
  if (w == WriteResult::Failed)
    throw TracerError(kExitRuntime, std::string("cannot write to stdout: ") + std::strerror(saved));
  closed_ = w == WriteResult::Closed;
  return !closed_;
}

std::string LineSink::summary() const {
  // What went out, in the words each kind's row gives (kinds that share
  // words, connect and accept, count together; the first row's are always
  // said),
  // then what did not go out and why.
  std::vector<std::pair<const KindInfo*, uint64_t>> written;
  for (const KindInfo& k : kinds()) {
    const uint64_t n = written_[size_t(k.type)];
    if (k.many.empty() || (!n && &k != &kinds().front())) // "0 connections" is said
      continue;
    auto same = std::find_if(written.begin(), written.end(),
                             [&](const auto& w) { return w.first->many == k.many; });
    if (same != written.end())
      same->second += n;
    else
      written.emplace_back(&k, n);
  }
  std::string s;
  for (size_t i = 0; i < written.size(); ++i)
    s += (i == 0                    ? ""
          : i + 1 == written.size() ? " and "
                                    : ", ") +
         count_of(written[i].second, written[i].first->one, written[i].first->many);
  s += " written";
  for (const KindInfo& k : kinds())
    if (hidden_[size_t(k.type)])
      s += ", " + count_of(hidden_[size_t(k.type)], k.one, k.many) + " not shown (add " +
           std::string(k.shown_with) + ")";
  if (after_count_)
    s += ", " + std::to_string(after_count_) + " more after " + options_.count_option + " " +
         std::to_string(options_.count) + " not written";
  if (unwritten_)
    s += ", " + count_of(unwritten_, "line", "lines") + " not written (stdout closed)";
  return s;
}

} // namespace nt
