// libFuzzer target: any bytes as one trace line (arrow, marker, banner or JSON,
// auto-detected by the parser). Invariants are in fuzz_common.h.
#include <cstddef>
#include <cstdint>

#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nt::fuzz::check_line(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
