// -t/--timestamp: the local time in front of each arrow line, as BCC's tools
// print it (tcplife -T: HH:MM:SS), with milliseconds because connections come
// faster than one a second: "14:03:07.125 ". netgraph strips it again.
#pragma once

#include <cstdint>
#include <string>

namespace nt {

class ClockPrefix {
public:
  // Appends "HH:MM:SS.mmm " for `time_ns` (nanoseconds since the Unix epoch),
  // in the local time zone. The zone is looked up once per distinct second.
  void append(std::string& out, uint64_t time_ns);

private:
  int64_t second_ = -1;
  char hms_[8] = {};
};

} // namespace nt
