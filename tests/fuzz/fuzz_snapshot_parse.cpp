// libFuzzer target for the snapshot's parsers (src/snapshot/snapshot_parse.h):
// the same bytes as a netlink inet_diag reply, as BPF iterator records and as
// the /proc text the /proc path reads. None may crash or read out of bounds
// (ASan), and each keeps its contract: a dump batch never yields more sockets
// than the bytes can hold, the iterator parser takes whole records only, a
// socket inode comes only from a "socket:[...]" link.
#include <linux/inet_diag.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "snapshot/snapshot_parse.h"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "snapshot parser contract broken: %s\n", what);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nt::snap;
  const std::span<const uint8_t> bytes(data, size);
  std::vector<DiagSocket> sockets;
  const DiagBatch b = parse_diag_batch(bytes, sockets);
  if (sockets.size() > size / sizeof(inet_diag_msg))
    fail("more diag sockets than the bytes hold");
  if (b.status == DiagBatch::Error && b.error <= 0)
    fail("an error without an errno");
  for (const auto& s : sockets)
    if ((s.local.ip.family != 4 && s.local.ip.family != 6) || nt::is_v4_mapped(s.local.ip) ||
        nt::is_v4_mapped(s.remote.ip))
      fail("a diag address neither IPv4 nor IPv6, or left IPv4-mapped");

  std::vector<IterSocket> recs;
  const size_t used = parse_iter_records(bytes, recs);
  if (used > size || used % iter_record_size() != 0 || recs.size() > used / iter_record_size())
    fail("iterator records: partial record taken");
  for (const auto& r : recs)
    if (r.comm.size() > 16 || nt::is_v4_mapped(r.s.local.ip))
      fail("iterator record: comm too long or address left IPv4-mapped");

  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (parse_socket_link(text) != 0 && !(text.starts_with("socket:[") && text.ends_with("]")))
    fail("an inode from something else than socket:[N]");
  (void)parse_status_uid(text);
  if (auto p = parse_cgroup_v2_path(text); p && !p->starts_with('/'))
    fail("a relative cgroup path");
  if (auto m = parse_cgroup2_mount(text); m && !m->starts_with('/'))
    fail("a relative cgroup2 mount point");
  if (parse_comm(text).size() > size)
    fail("comm longer than its file");
  return 0;
}
