#include "tracer/clock_prefix.h"

#include <ctime>

namespace nt {

void ClockPrefix::append(std::string& out, uint64_t time_ns) {
  const int64_t second = int64_t(time_ns / 1000000000u);
  if (second != second_) {
    const time_t t = time_t(second);
    tm local{};
    localtime_r(&t, &local);
    const int parts[3] = {local.tm_hour, local.tm_min, local.tm_sec};
    for (int i = 0; i < 3; ++i) {
      hms_[i * 3] = char('0' + parts[i] / 10);
      hms_[i * 3 + 1] = char('0' + parts[i] % 10);
      if (i < 2)
        hms_[i * 3 + 2] = ':';
    }
    second_ = second;
  }
  const unsigned ms = unsigned(time_ns / 1000000u % 1000u);
  const char tail[6] = {
      '.', char('0' + ms / 100), char('0' + ms / 10 % 10), char('0' + ms % 10), ' ', 0};
  out.append(hms_, sizeof hms_);
  out.append(tail, 5);
}

} // namespace nt
