// libFuzzer target for the JSON reader: the input always starts with '{' so
// every run goes down the JSON path instead of the arrow one.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string line;
  line.reserve(size + 1);
  if (size == 0 || data[0] != '{')
    line.push_back('{');
  line.append(reinterpret_cast<const char*>(data), size);
  nt::fuzz::check_line(line);
  return 0;
}
