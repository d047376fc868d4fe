// Turns the raw records of the ring buffer into nt::Record.
#pragma once

#include <cstddef>
#include <cstdint>

#include "trace/record.h"

namespace nt {

// Address families: the kernel side (the event, the BPF filters, BpfConfig)
// speaks the kernel's AF_INET/AF_INET6 (bpf/nettrace_event.h NT_AF_*); user
// space (IpAddr, TracerOptions, the trace formats) speaks 4 and 6. These two
// are the only conversions; 0 means none or unknown on both sides.
constexpr uint8_t ip_family_of_af(uint16_t af) {
  return af == 2 ? 4 : af == 10 ? 6 : 0; // NT_AF_INET, NT_AF_INET6 (checked in event_decode.cpp)
}
constexpr uint16_t af_of_ip_family(int family) {
  return family == 4 ? 2 : family == 6 ? 10 : 0;
}

// Converts kernel CLOCK_MONOTONIC nanoseconds (bpf_ktime_get_ns) to Unix time.
struct ClockOffset {
  int64_t mono_to_real_ns = 0;
  static ClockOffset now();
};

// Decodes one ring-buffer record. Returns false (and leaves `out` unspecified)
// when the record is too short or of an unknown kind: a mismatched BPF object
// must not be decoded as garbage.
bool decode_event(const void* data, size_t size, const ClockOffset& clock, Record& out);

} // namespace nt
