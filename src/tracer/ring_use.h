// How full the BPF ring buffer is, read from the kernel's own positions.
//
// libbpf 1.1 (Debian 12) has no ring__avail_data_size() (1.3+), so nettrace
// maps the ring's two position pages itself, read-only: the consumer position
// (page 0, advanced by libbpf as it reads) and the producer position (page 1,
// advanced by the BPF programs as they submit). Their difference is what is
// waiting. Reading two words costs no system call, so the tracer samples it at
// every drain (where the ring is at its fullest) and /metrics reads it at
// every scrape.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace nt {

class RingUse {
public:
  // nullptr when the kernel refuses the mapping (then the use is unknown and
  // /metrics leaves the gauges out); `map_fd` is the BPF_MAP_TYPE_RINGBUF.
  static std::unique_ptr<RingUse> open(int map_fd);
  ~RingUse();
  RingUse(const RingUse&) = delete;
  RingUse& operator=(const RingUse&) = delete;

  // Bytes submitted (or reserved) and not yet consumed. Safe from any thread.
  uint64_t used() const;
  // used() now, remembered as the peak if it is the highest seen so far.
  uint64_t sample();
  uint64_t peak() const { return peak_.load(std::memory_order_relaxed); }

  // The arithmetic, apart from the mapping (for tests): positions only grow,
  // so a producer behind the consumer is a torn read: count it as empty.
  static uint64_t waiting(uint64_t producer, uint64_t consumer) {
    return producer > consumer ? producer - consumer : 0;
  }

private:
  RingUse() = default;
  void* consumer_page_ = nullptr;
  void* producer_page_ = nullptr;
  size_t page_ = 0;
  std::atomic<uint64_t> peak_{0};
};

} // namespace nt
