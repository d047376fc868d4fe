// Unit tests of the snapshot's pure parts (src/snapshot/snapshot_parse.h):
// inet_diag replies built byte by byte as the kernel lays them out, the /proc
// text it reads, the direction rule, the owner rule and the filters.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <climits>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <cstring>
#include <vector>

#include <linux/types.h>

#include "snapshot/snapshot_parse.h"
#include "snapshot_iter.h"
#include "trace/parse.h"

namespace nt::snap {
namespace {

// Appends one netlink message of `type` carrying `payload`, padded as the
// kernel pads (NLMSG_ALIGN).
void put_msg(std::vector<uint8_t>& out, uint16_t type, const void* payload, size_t len) {
  nlmsghdr h{};
  h.nlmsg_len = uint32_t(NLMSG_LENGTH(len));
  h.nlmsg_type = type;
  const size_t at = out.size();
  out.resize(at + NLMSG_SPACE(len));
  std::memcpy(out.data() + at, &h, sizeof h);
  std::memcpy(out.data() + at + NLMSG_HDRLEN, payload, len);
}

inet_diag_msg diag(int family, const char* src, uint16_t sport, const char* dst, uint16_t dport,
                   uint8_t state, uint32_t inode, uint64_t cookie) {
  inet_diag_msg m{};
  m.idiag_family = uint8_t(family);
  m.idiag_state = state;
  m.id.idiag_sport = htons(sport);
  m.id.idiag_dport = htons(dport);
  inet_pton(family, src, m.id.idiag_src);
  inet_pton(family, dst, m.id.idiag_dst);
  m.idiag_inode = inode;
  m.id.idiag_cookie[0] = uint32_t(cookie);
  m.id.idiag_cookie[1] = uint32_t(cookie >> 32);
  return m;
}

Endpoint ep(const char* ip, uint16_t port) {
  Endpoint e;
  EXPECT_TRUE(parse_ip(ip, e.ip)) << ip;
  e.port = port;
  return e;
}

TEST(SnapshotDiag, ParsesSocketsOfBothFamiliesAndStopsAtDone) {
  std::vector<uint8_t> bytes;
  auto a = diag(AF_INET, "127.0.0.1", 40000, "127.0.0.2", 80, kTcpEstablished, 1234,
                0x1122334455667788ull);
  auto b = diag(AF_INET6, "::1", 443, "fd00::7", 51000, kTcpListen, 99, 5);
  put_msg(bytes, SOCK_DIAG_BY_FAMILY, &a, sizeof a);
  put_msg(bytes, SOCK_DIAG_BY_FAMILY, &b, sizeof b);
  std::vector<DiagSocket> out;
  auto r = parse_diag_batch(bytes, out);
  EXPECT_EQ(r.status, DiagBatch::More);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].local, ep("127.0.0.1", 40000));
  EXPECT_EQ(out[0].remote, ep("127.0.0.2", 80));
  EXPECT_EQ(out[0].state, kTcpEstablished);
  EXPECT_EQ(out[0].inode, 1234u);
  EXPECT_EQ(out[0].cookie, 0x1122334455667788ull);
  EXPECT_EQ(out[1].local, ep("::1", 443));
  EXPECT_EQ(out[1].remote, ep("fd00::7", 51000));
  EXPECT_EQ(out[1].state, kTcpListen);

  int done = 0;
  bytes.clear();
  put_msg(bytes, NLMSG_DONE, &done, sizeof done);
  put_msg(bytes, SOCK_DIAG_BY_FAMILY, &a, sizeof a); // never read: the dump ended
  out.clear();
  EXPECT_EQ(parse_diag_batch(bytes, out).status, DiagBatch::Done);
  EXPECT_TRUE(out.empty());
}

TEST(SnapshotDiag, UnmapsIpv4MappedAddresses) {
  std::vector<uint8_t> bytes;
  auto m = diag(AF_INET6, "::ffff:10.1.2.3", 8080, "::ffff:10.9.9.9", 33000, kTcpEstablished, 7, 0);
  put_msg(bytes, SOCK_DIAG_BY_FAMILY, &m, sizeof m);
  std::vector<DiagSocket> out;
  parse_diag_batch(bytes, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].local, ep("10.1.2.3", 8080));
  EXPECT_EQ(out[0].remote, ep("10.9.9.9", 33000));
  EXPECT_EQ(out[0].local.ip.family, 4);
}

TEST(SnapshotDiag, ReportsKernelErrorsAndMalformedBytes) {
  std::vector<uint8_t> bytes;
  nlmsgerr e{};
  e.error = -EPERM;
  put_msg(bytes, NLMSG_ERROR, &e, sizeof e);
  std::vector<DiagSocket> out;
  auto r = parse_diag_batch(bytes, out);
  EXPECT_EQ(r.status, DiagBatch::Error);
  EXPECT_EQ(r.error, EPERM);
  // An error field that is no errno (fuzzing found INT_MIN, whose negation
  // overflowed) is a broken message.
  for (int bad : {INT_MIN, -5000, 0}) {
    bytes.clear();
    e.error = bad;
    put_msg(bytes, NLMSG_ERROR, &e, sizeof e);
    r = parse_diag_batch(bytes, out);
    EXPECT_EQ(r.status, DiagBatch::Error);
    EXPECT_EQ(r.error, EBADMSG) << bad;
  }

  // A length that runs past the end of the buffer.
  auto m = diag(AF_INET, "1.1.1.1", 1, "2.2.2.2", 2, kTcpEstablished, 1, 0);
  bytes.clear();
  put_msg(bytes, SOCK_DIAG_BY_FAMILY, &m, sizeof m);
  bytes.resize(bytes.size() - 8);
  EXPECT_EQ(parse_diag_batch(bytes, out).status, DiagBatch::Error);
  // A payload too short for an inet_diag_msg.
  bytes.clear();
  put_msg(bytes, SOCK_DIAG_BY_FAMILY, &m, 8);
  EXPECT_EQ(parse_diag_batch(bytes, out).status, DiagBatch::Error);
  // A torn header at the end.
  bytes.clear();
  put_msg(bytes, SOCK_DIAG_BY_FAMILY, &m, sizeof m);
  bytes.resize(bytes.size() + 4);
  out.clear();
  EXPECT_EQ(parse_diag_batch(bytes, out).status, DiagBatch::Error);
  EXPECT_EQ(out.size(), 1u);
  // An unknown family.
  m.idiag_family = AF_UNIX;
  bytes.clear();
  put_msg(bytes, SOCK_DIAG_BY_FAMILY, &m, sizeof m);
  EXPECT_EQ(parse_diag_batch(bytes, out).status, DiagBatch::Error);
}

nt_snap_rec iter_rec(uint16_t family, const char* l, uint16_t lport, const char* r, uint16_t rport,
                     uint8_t state) {
  nt_snap_rec x{};
  x.family = family;
  x.state = state;
  inet_pton(family, l, x.laddr);
  inet_pton(family, r, x.raddr);
  x.lport = lport;
  x.rport = rport;
  x.inode = 4242;
  x.cookie = 77;
  x.cgroup_id = 9;
  x.pid = 100;
  x.fd = 5;
  x.uid = 1000;
  x.netns = 4026531840u;
  std::memcpy(x.comm, "0123456789abcdef", 16); // no NUL: all 16 bytes are the name's
  return x;
}

TEST(SnapshotIter, ParsesWholeRecordsAndLeavesTheTail) {
  std::vector<uint8_t> bytes(3 * sizeof(nt_snap_rec) + 10);
  auto a = iter_rec(AF_INET6, "::ffff:127.0.0.1", 40000, "::ffff:127.0.0.2", 22, kTcpEstablished);
  auto b = iter_rec(AF_INET, "10.0.0.1", 22, "0.0.0.0", 0, kTcpListen);
  std::memcpy(b.comm, "sshd\0garbage", 13);
  auto bad = iter_rec(AF_UNIX, "1.1.1.1", 1, "1.1.1.1", 1, kTcpListen);
  std::memcpy(bytes.data(), &a, sizeof a);
  std::memcpy(bytes.data() + sizeof a, &bad, sizeof bad);
  std::memcpy(bytes.data() + 2 * sizeof a, &b, sizeof b);
  std::vector<IterSocket> out;
  EXPECT_EQ(parse_iter_records(bytes, out), 3 * sizeof(nt_snap_rec));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].s.local, ep("127.0.0.1", 40000));
  EXPECT_EQ(out[0].s.remote, ep("127.0.0.2", 22));
  EXPECT_EQ(out[0].s.state, kTcpEstablished);
  EXPECT_EQ(out[0].s.inode, 4242u);
  EXPECT_EQ(out[0].s.cookie, 77u);
  EXPECT_EQ(out[0].pid, 100u);
  EXPECT_EQ(out[0].fd, 5);
  EXPECT_EQ(out[0].uid, 1000u);
  EXPECT_EQ(out[0].netns, 4026531840u);
  EXPECT_EQ(out[0].cgroup_id, 9u);
  EXPECT_EQ(out[0].comm, "0123456789abcdef");
  EXPECT_EQ(out[1].s.local, ep("10.0.0.1", 22));
  EXPECT_EQ(out[1].s.state, kTcpListen);
  EXPECT_EQ(out[1].comm, "sshd");
  out.clear();
  EXPECT_EQ(parse_iter_records({bytes.data(), sizeof(nt_snap_rec) - 1}, out), 0u);
  EXPECT_TRUE(out.empty());
}

TEST(SnapshotProc, SocketLinks) {
  EXPECT_EQ(parse_socket_link("socket:[123456]"), 123456u);
  EXPECT_EQ(parse_socket_link("socket:[18446744073709551615]"), 18446744073709551615ull);
  EXPECT_EQ(parse_socket_link("pipe:[123]"), 0u);
  EXPECT_EQ(parse_socket_link("/dev/null"), 0u);
  EXPECT_EQ(parse_socket_link("socket:[]"), 0u);
  EXPECT_EQ(parse_socket_link("socket:[12x]"), 0u);
  EXPECT_EQ(parse_socket_link("socket:[12"), 0u);
  EXPECT_EQ(parse_socket_link("anon_inode:[eventpoll]"), 0u);
}

TEST(SnapshotProc, StatusUidIsTheRealUid) {
  EXPECT_EQ(parse_status_uid("Name:\tsshd\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t0\n"), 1000u);
  EXPECT_EQ(parse_status_uid("Uid:\t0\t0\t0\t0"), 0u);
  EXPECT_EQ(parse_status_uid("Name:\tUid:\t5\n"), std::nullopt); // not at a line start
  EXPECT_EQ(parse_status_uid("Uid:\t\n"), std::nullopt);
  EXPECT_EQ(parse_status_uid(""), std::nullopt);
}

TEST(SnapshotProc, CgroupV2Path) {
  EXPECT_EQ(parse_cgroup_v2_path("0::/system.slice/ssh.service\n"), "/system.slice/ssh.service");
  EXPECT_EQ(parse_cgroup_v2_path("9:name=systemd:/\n4:memory:/x\n0::/\n"), "/");
  EXPECT_EQ(parse_cgroup_v2_path("4:memory:/x\n"), std::nullopt);
  EXPECT_EQ(parse_cgroup_v2_path("0::relative\n"), std::nullopt);
}

TEST(SnapshotProc, Cgroup2MountPoint) {
  const char* hybrid =
      "25 30 0:23 / /sys rw,nosuid - sysfs sysfs rw\n"
      "35 25 0:30 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
      "36 25 0:31 / /sys/fs/cgroup/unified rw,relatime shared:10 - cgroup2 cgroup2 rw\n";
  EXPECT_EQ(parse_cgroup2_mount(hybrid), "/sys/fs/cgroup/unified");
  EXPECT_EQ(parse_cgroup2_mount("1 2 0:3 / /my\\040cgroups rw - cgroup2 none rw\n"), "/my cgroups");
  EXPECT_EQ(parse_cgroup2_mount("1 2 0:3 / /sys/fs/cgroup rw - cgroup cgroup rw\n"), std::nullopt);
  EXPECT_EQ(parse_cgroup2_mount(""), std::nullopt);
}

TEST(SnapshotProc, Comm) {
  EXPECT_EQ(parse_comm("sshd\n"), "sshd");
  EXPECT_EQ(parse_comm("a\nb\n"), "a\nb"); // a newline inside a name stays
  EXPECT_EQ(parse_comm(""), "");
}

TEST(SnapshotRules, DirectionFromListeningPorts) {
  ListenPorts l;
  l.add(22);
  l.add(65535);
  EXPECT_EQ(infer_direction(l, 22), RecordType::Accept);
  EXPECT_EQ(infer_direction(l, 65535), RecordType::Accept);
  EXPECT_EQ(infer_direction(l, 40000), RecordType::Connect);
  l.clear();
  EXPECT_EQ(infer_direction(l, 22), RecordType::Connect);
}

TEST(SnapshotRules, OwnerIsTheLowestEligiblePidAndFd) {
  Holders h;
  h.add(500, 7, true);
  h.add(500, 3, true); // the same process again: still one holder
  h.add(900, 1, true);
  EXPECT_EQ(h.owner_pid, 500u);
  EXPECT_EQ(h.owner_fd, 3);
  EXPECT_EQ(h.others(), 1u);
  h.add(100, 9, false); // lower pid but filtered out: counted, never the owner
  EXPECT_EQ(h.owner_pid, 500u);
  EXPECT_EQ(h.others(), 2u);
  h.add(200, 4, true);
  EXPECT_EQ(h.owner_pid, 200u);
  EXPECT_EQ(h.owner_fd, 4);
  EXPECT_EQ(h.others(), 3u);

  Holders none;
  none.add(5, 5, false);
  EXPECT_FALSE(none.has_owner());
  EXPECT_EQ(none.processes, 1u);
}

TEST(SnapshotRules, SocketFilter) {
  DiagSocket s;
  s.local = ep("10.0.0.1", 40000);
  s.remote = ep("10.0.0.2", 5432);
  SocketFilter f;
  EXPECT_TRUE(f.wants(s, RecordType::Connect, 77));
  f.ports = {5432};
  EXPECT_TRUE(f.wants(s, RecordType::Connect, 77));
  f.ports = {80, 40000};
  EXPECT_TRUE(f.wants(s, RecordType::Connect, 77));
  f.ports = {80};
  EXPECT_FALSE(f.wants(s, RecordType::Connect, 77));
  f.ports.clear();
  f.family = 6;
  EXPECT_FALSE(f.wants(s, RecordType::Connect, 77));
  f.family = 4;
  EXPECT_TRUE(f.wants(s, RecordType::Connect, 77));
  f.direction = Direction::In;
  EXPECT_FALSE(f.wants(s, RecordType::Connect, 77));
  EXPECT_TRUE(f.wants(s, RecordType::Accept, 77));
  f.direction = Direction::Out;
  EXPECT_TRUE(f.wants(s, RecordType::Connect, 77));
  EXPECT_FALSE(f.wants(s, RecordType::Accept, 77));
  f.netns = 78;
  EXPECT_FALSE(f.wants(s, RecordType::Connect, 77));
  EXPECT_TRUE(f.wants(s, RecordType::Connect, 78));
}

TEST(SnapshotRules, ProcessFilterFromOptions) {
  TracerOptions o;
  o.pid = 42;
  o.uid = 1000;
  o.comm = "postgres";
  o.ports = {5432};
  o.family = 6;
  o.direction = Direction::In;
  o.netns = 4026531840u;
  ProcessFilter p = process_filter_of(o);
  EXPECT_TRUE(p.needs_details());
  EXPECT_TRUE(p.wants(42, 1000, "postgres", 9));
  EXPECT_FALSE(p.wants(43, 1000, "postgres", 9));
  EXPECT_FALSE(p.wants(42, 0, "postgres", 9));
  EXPECT_FALSE(p.wants(42, 1000, "postgres2", 9));
  p.cgroup_id = 9;
  EXPECT_TRUE(p.wants(42, 1000, "postgres", 9));
  EXPECT_FALSE(p.wants(42, 1000, "postgres", 10));
  SocketFilter s = socket_filter_of(o);
  EXPECT_EQ(s.ports, std::vector<uint16_t>{5432});
  EXPECT_EQ(s.family, 6);
  EXPECT_EQ(s.direction, Direction::In);
  EXPECT_EQ(s.netns, 4026531840u);
  EXPECT_FALSE(process_filter_of(TracerOptions{}).needs_details());
  EXPECT_TRUE(process_filter_of(TracerOptions{}).wants(1, 2, "x", 3));
}

} // namespace
} // namespace nt::snap
