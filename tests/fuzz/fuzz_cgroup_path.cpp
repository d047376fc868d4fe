// libFuzzer target for the identity parsers (src/trace/identity.h): the same
// bytes as a cgroup v2 path, a /proc/PID/cgroup file, a /proc/PID/stat file
// and a command line. None may crash or read out of bounds (ASan), and each
// keeps its contract: a container id is 64 lower-case hex digits found in the
// path, a pod always comes with its QoS class, a unit is a component of the
// path naming a service or scope, the cgroup path is a piece of the file
// starting with '/', and a command line holds no NUL and stays in its bound.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "trace/identity.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "identity parser contract broken: %s\n", what);
  std::abort();
}

bool lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nt;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  const CgroupIdentity id = parse_cgroup_path(text);
  if (!id.container.empty() && (id.container.size() != 64 || !lower_hex(id.container) ||
                                text.find(id.container) == std::string_view::npos))
    fail("a container id that is not 64 hex digits of the path");
  if (!id.pod.empty() && id.pod_qos.empty())
    fail("a pod without its QoS class");
  if (!id.pod_qos.empty() && id.pod_qos != "guaranteed" && id.pod_qos != "burstable" &&
      id.pod_qos != "besteffort")
    fail("an unknown QoS class");
  if (!id.unit.empty() &&
      ((!id.unit.ends_with(".service") && !id.unit.ends_with(".scope")) ||
       id.unit.find('/') != std::string::npos || text.find(id.unit) == std::string_view::npos))
    fail("a unit that is not a service or scope component of the path");

  if (const auto path = parse_proc_cgroup(text)) {
    if (path->empty() || path->front() != '/' || path->data() < text.data() ||
        path->data() + path->size() > text.data() + text.size())
      fail("a cgroup path outside the file or not absolute");
  }

  (void)parse_proc_stat(text);

  std::string cmdline;
  cmdline_text(text, 64, cmdline);
  if (cmdline.size() > 64 || cmdline.find('\0') != std::string::npos)
    fail("a command line over its bound or holding a NUL");
  return 0;
}
