#include "tracer/ring_use.h"

#include <sys/mman.h>
#include <unistd.h>

namespace nt {

std::unique_ptr<RingUse> RingUse::open(int map_fd) {
  if (map_fd < 0)
    return nullptr;
  std::unique_ptr<RingUse> r(new RingUse);
  r->page_ = size_t(sysconf(_SC_PAGESIZE));
  // The kernel lets only the consumer page be mapped writable; read-only
  // mappings of both pages are always allowed, and are all a reader needs.
  void* c = mmap(nullptr, r->page_, PROT_READ, MAP_SHARED, map_fd, 0);
  if (c == MAP_FAILED)
    return nullptr;
  r->consumer_page_ = c;
  void* p = mmap(nullptr, r->page_, PROT_READ, MAP_SHARED, map_fd, off_t(r->page_));
  if (p == MAP_FAILED)
    return nullptr; // the destructor unmaps the consumer page
  r->producer_page_ = p;
  return r;
}

RingUse::~RingUse() {
  if (consumer_page_)
    munmap(consumer_page_, page_);
  if (producer_page_)
    munmap(producer_page_, page_);
}

uint64_t RingUse::used() const {
  // Acquire loads, as libbpf reads them: the kernel and libbpf publish them
  // with release stores. Consumer first: it only grows towards the producer,
  // so reading it first can only overstate the use by what was read since.
  const uint64_t consumer =
      __atomic_load_n(static_cast<const uint64_t*>(consumer_page_), __ATOMIC_ACQUIRE);
  const uint64_t producer =
      __atomic_load_n(static_cast<const uint64_t*>(producer_page_), __ATOMIC_ACQUIRE);
  return waiting(producer, consumer);
}

uint64_t RingUse::sample() {
  const uint64_t u = used();
  uint64_t seen = peak_.load(std::memory_order_relaxed);
  while (u > seen && !peak_.compare_exchange_weak(seen, u, std::memory_order_relaxed)) {
  }
  return u;
}

} // namespace nt
