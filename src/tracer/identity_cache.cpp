#include "tracer/identity_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "trace/identity.h"
#include "trace/kinds.h"
#include "util/unique_fd.h"

namespace nt {
namespace {

// Up to `size` bytes of a small /proc file, relative to the process's
// directory.
std::string_view read_at(int dir, const char* name, char* buf, size_t size) {
  UniqueFd fd(openat(dir, name, O_RDONLY | O_CLOEXEC));
  if (!fd)
    return {};
  size_t have = 0;
  while (have < size) {
    const ssize_t n = read(fd.get(), buf + have, size - have);
    if (n <= 0)
      break;
    have += size_t(n);
  }
  return {buf, have};
}

} // namespace

IdentityCache::IdentityCache(size_t capacity, std::string proc_root)
    : capacity_(capacity ? capacity : 1), proc_root_(std::move(proc_root)) {}

void IdentityCache::read_proc(const Record& r, Entry& e) {
  ++looked_up_;
  char path[64];
  std::snprintf(path, sizeof path, "/%u", r.pid);
  UniqueFd dir(open((proc_root_ + path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  char buf[4096];
  // The process in /proc must be the one the kernel saw: same start (in
  // /proc's clock ticks). Else it exited, and its pid may hold another.
  const auto st = dir ? parse_proc_stat(read_at(dir.get(), "stat", buf, sizeof buf)) : std::nullopt;
  if (!st || (r.start_ns && st->start_ticks != start_ticks_of(r.start_ns))) {
    ++gone_;
    return;
  }
  const ssize_t n = readlinkat(dir.get(), "exe", buf, sizeof buf);
  if (n > 0)
    e.exe.assign(buf, size_t(n));
  cmdline_text(read_at(dir.get(), "cmdline", buf, kCmdlineMax), kCmdlineMax, e.cmdline);
  if (const auto cg = parse_proc_cgroup(read_at(dir.get(), "cgroup", buf, sizeof buf))) {
    e.cgroup.assign(*cg);
    CgroupIdentity id = parse_cgroup_path(*cg);
    e.container = std::move(id.container);
    e.pod = std::move(id.pod);
    e.pod_qos = std::move(id.pod_qos);
    e.unit = std::move(id.unit);
  }
}

void IdentityCache::fill(Record& r) {
  if (r.pid == 0)
    return;
  // Ticks, not ns: the snapshot's /proc path knows the start in ticks only,
  // and one process is one entry whichever source saw it first.
  const Key key{r.pid, start_ticks_of(r.start_ns)};
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= capacity_) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
    it = entries_.emplace(key, Entry{}).first;
    order_.push_back(key);
    read_proc(r, it->second);
  }
  const Entry& e = it->second;
  r.exe = e.exe;
  r.cmdline = e.cmdline;
  r.cgroup = e.cgroup;
  r.container = e.container;
  r.pod = e.pod;
  r.pod_qos = e.pod_qos;
  r.unit = e.unit;
}

void IdentitySource::pass(const Record& r, const RecordCallback& cb) {
  if (!kind_info(r.type).connection || r.pid == 0) {
    cb(r);
    return;
  }
  record_ = r;
  cache_.fill(record_);
  cb(record_);
}

void IdentitySource::drain(const RecordCallback& cb) {
  inner_.drain([&](const Record& r) { pass(r, cb); });
}

void IdentitySource::finish(const RecordCallback& cb) {
  inner_.finish([&](const Record& r) { pass(r, cb); });
}

} // namespace nt
