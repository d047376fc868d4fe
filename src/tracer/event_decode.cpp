#include "tracer/event_decode.h"

#include <linux/types.h>
#include <sys/socket.h>

#include <cstring>
#include <ctime>

#include "trace/kinds.h"

extern "C" {
#include "nettrace_event.h"
}

namespace nt {

// The layout both sides agree on (bpf/nettrace_event.h). If a field moves, the
// build breaks here instead of the decoding going quietly wrong.
static_assert(sizeof(nt_config) == 104);
static_assert(offsetof(nt_config, emit_close) == 96);
static_assert(offsetof(nt_config, owners_max) == 100);
static_assert(offsetof(nt_config, comm) == 16);
static_assert(offsetof(nt_config, ports) == 32);
static_assert(offsetof(nt_config, nports) == 64);
static_assert(offsetof(nt_config, family) == 68);
static_assert(offsetof(nt_config, direction) == 72);
static_assert(offsetof(nt_config, netns) == 76);
static_assert(offsetof(nt_config, cgroup_id) == 80);
static_assert(offsetof(nt_config, wakeup_bytes) == 88);
static_assert(sizeof(nt_event) == 104);
static_assert(offsetof(nt_event, kind) == 0);
static_assert(offsetof(nt_event, family) == 2);
static_assert(offsetof(nt_event, lport) == 4);
static_assert(offsetof(nt_event, rport) == 6);
static_assert(offsetof(nt_event, error) == 8);
static_assert(offsetof(nt_event, pid) == 12);
static_assert(offsetof(nt_event, tid) == 16);
static_assert(offsetof(nt_event, uid) == 20);
static_assert(offsetof(nt_event, netns) == 24);
static_assert(offsetof(nt_event, ppid) == 28);
static_assert(offsetof(nt_event, ts_ns) == 32);
static_assert(offsetof(nt_event, cgroup_id) == 40);
static_assert(offsetof(nt_event, laddr) == 48);
static_assert(offsetof(nt_event, raddr) == 64);
static_assert(offsetof(nt_event, comm) == 80);
static_assert(offsetof(nt_event, start_ns) == 96);
static_assert(sizeof(nt_close_event) == 168);
static_assert(offsetof(nt_close_event, bytes_sent) == 104);
static_assert(offsetof(nt_close_event, bytes_received) == 112);
static_assert(offsetof(nt_close_event, duration_ns) == 120);
static_assert(offsetof(nt_close_event, retransmits) == 128);
static_assert(offsetof(nt_close_event, srtt_us) == 132);
static_assert(offsetof(nt_close_event, last_pid) == 136);
static_assert(offsetof(nt_close_event, closed_by) == 140);
static_assert(offsetof(nt_close_event, owner) == 142);
static_assert(offsetof(nt_close_event, side) == 144);
static_assert(offsetof(nt_close_event, last_comm) == 144 + 8);
static_assert(sizeof(nt_identity) == 56 && offsetof(nt_identity, start_ns) == 48);
static_assert(NT_CLOSED_ERROR == int(ClosedBy::Error) &&
              NT_CLOSED_PEER_RESET == int(ClosedBy::PeerReset) &&
              NT_CLOSED_LOCAL == int(ClosedBy::Local));
static_assert(NT_AF_INET == AF_INET && NT_AF_INET6 == AF_INET6);
static_assert(ip_family_of_af(NT_AF_INET) == 4 && ip_family_of_af(NT_AF_INET6) == 6);
static_assert(af_of_ip_family(4) == NT_AF_INET && af_of_ip_family(6) == NT_AF_INET6);

ClockOffset ClockOffset::now() {
  timespec mono{}, real{};
  clock_gettime(CLOCK_MONOTONIC, &mono);
  clock_gettime(CLOCK_REALTIME, &real);
  ClockOffset c;
  c.mono_to_real_ns = (int64_t(real.tv_sec) - int64_t(mono.tv_sec)) * 1000000000LL +
                      (int64_t(real.tv_nsec) - int64_t(mono.tv_nsec));
  return c;
}

namespace {

void set_ip(IpAddr& ip, uint8_t family, const uint8_t* bytes) {
  ip = {};
  ip.family = family;
  std::memcpy(ip.bytes.data(), bytes, family == 4 ? 4 : 16);
  // A dual-stack socket talking to an IPv4 peer: report it as the IPv4 peer it is.
  unmap_v4(ip);
}

} // namespace

bool decode_event(const void* data, size_t size, const ClockOffset& clock, Record& out) {
  if (size < sizeof(nt_event))
    return false;
  nt_event e;
  std::memcpy(&e, data, sizeof e); // the ring buffer gives no alignment promise we rely on
  const KindInfo* kind = kind_by_bpf(e.kind);
  if (!kind)
    return false;
  out.type = kind->type;
  const uint8_t family = ip_family_of_af(e.family);
  if (family == 0)
    return false;
  set_ip(out.local.ip, family, e.laddr);
  set_ip(out.remote.ip, family, e.raddr);
  out.local.port = e.lport;
  out.remote.port = e.rport;
  out.pid = e.pid;
  out.tid = e.tid;
  out.uid = e.uid;
  out.netns = e.netns;
  out.cgroup_id = e.cgroup_id;
  out.error = e.error < 0 ? -e.error : e.error;
  out.lost = 0;
  out.has_details = true;
  out.time_ns = uint64_t(int64_t(e.ts_ns) + clock.mono_to_real_ns);
  out.comm.assign(e.comm, strnlen(e.comm, sizeof e.comm));
  out.ppid = e.ppid;
  out.start_ns = e.start_ns;
  // The rest of the identity is user space's (src/tracer/identity.h).
  out.exe.clear();
  out.cmdline.clear();
  out.cgroup.clear();
  out.container.clear();
  out.pod.clear();
  out.pod_qos.clear();
  out.unit.clear();
  out.host.clear();
  out.side = Side::None;
  out.owner_evicted = false;
  out.closed_by = ClosedBy::Unknown;
  out.duration_ns = out.bytes_sent = out.bytes_received = 0;
  out.retransmits = out.srtt_us = out.last_pid = 0;
  out.last_comm.clear();
  out.evicted = 0;
  if (kind->side != Side::FromRecord)
    return true;
  // Close and open: the longer record.
  if (size < sizeof(nt_close_event))
    return false;
  nt_close_event c;
  std::memcpy(&c, data, sizeof c);
  out.owner_evicted = c.owner == NT_OWNER_EVICTED;
  out.side = out.owner_evicted ? Side::None : c.side == NT_EV_ACCEPT ? Side::In : Side::Out;
  out.closed_by = c.closed_by <= NT_CLOSED_ERROR ? ClosedBy(c.closed_by) : ClosedBy::Unknown;
  out.duration_ns = c.duration_ns;
  out.bytes_sent = c.bytes_sent;
  out.bytes_received = c.bytes_received;
  out.retransmits = c.retransmits;
  out.srtt_us = c.srtt_us;
  out.last_pid = c.last_pid;
  out.last_comm.assign(c.last_comm, strnlen(c.last_comm, sizeof c.last_comm));
  return true;
}

} // namespace nt
