#include "tracer/open_dump.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "tracer/skeleton_util.h"

// After skeleton_util.h: the skeleton names struct nt_config, defined there.
#include "open_iter.skel.h"

namespace nt {

void OpenDump::SkelDeleter::operator()(open_iter* s) const noexcept {
  open_iter__destroy(s);
}

void OpenDump::LinkDeleter::operator()(bpf_link* l) const noexcept {
  bpf_link__destroy(l);
}

std::unique_ptr<OpenDump> OpenDump::open(int owners_fd, std::string& why) {
  std::unique_ptr<OpenDump> d(new OpenDump);
  d->skel_.reset(open_iter__open());
  if (!d->skel_) {
    why = "open: " + errno_text(errno);
    return nullptr;
  }
  // The backend's owner map, not a new one; the ring buffer is unused here,
  // so it gets the smallest size.
  if (int err = bpf_map__reuse_fd(d->skel_->maps.owners, owners_fd)) {
    why = "owner map: " + errno_text(err);
    return nullptr;
  }
  bpf_map__set_max_entries(d->skel_->maps.events, uint32_t(sysconf(_SC_PAGESIZE)));
  if (int err = open_iter__load(d->skel_.get())) {
    why = "load: " + errno_text(err);
    return nullptr;
  }
  union bpf_iter_link_info info {};
  info.map.map_fd = uint32_t(owners_fd);
  LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof info);
  d->link_.reset(bpf_program__attach_iter(d->skel_->progs.dump_open, &opts));
  if (!d->link_) {
    why = "attach: " + errno_text(errno);
    return nullptr;
  }
  d->reader_ = UniqueFd(bpf_iter_create(bpf_link__fd(d->link_.get())));
  if (!d->reader_) {
    why = "iterator: " + errno_text(errno);
    return nullptr;
  }
  return d;
}

OpenDump::~OpenDump() = default;

int OpenDump::read(const ClockOffset& clock, const RecordCallback& cb) {
  if (!reader_)
    return -1;
  // Whole records only: the iterator writes each in one piece.
  std::vector<char> buf;
  char chunk[8192];
  for (;;) {
    const ssize_t n = ::read(reader_.get(), chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      reader_.reset();
      return -1;
    }
    if (n == 0)
      break;
    buf.insert(buf.end(), chunk, chunk + n);
  }
  reader_.reset();
  int count = 0;
  Record r;
  for (size_t at = 0; at + sizeof(nt_close_event) <= buf.size(); at += sizeof(nt_close_event))
    if (decode_event(buf.data() + at, sizeof(nt_close_event), clock, r)) {
      cb(r);
      ++count;
    }
  return count;
}

} // namespace nt
