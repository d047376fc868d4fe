// Turns the raw records of the ring buffer into nt::Record.
#pragma once

#include <cstddef>
#include <cstdint>

#include "trace/record.h"

namespace nt {

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
