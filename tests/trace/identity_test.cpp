// Unit tests of the identity (issue 13): the parsers of /proc/PID/stat,
// /proc/PID/cgroup, cmdline and the cgroup v2 path (container id, pod UID and
// QoS, systemd unit), and the JSON fields that carry them.
#include <gtest/gtest.h>

#include <string>

#include "trace/format.h"
#include "trace/identity.h"
#include "trace/kinds.h"
#include "trace/parse.h"

namespace nt {
namespace {

const std::string kId = "3f4b7a1c9d2e8f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a";

TEST(CgroupPath, DockerSystemdDriver) {
  const auto id = parse_cgroup_path("/system.slice/docker-" + kId + ".scope");
  EXPECT_EQ(id.container, kId);
  EXPECT_EQ(id.pod, "");
  EXPECT_EQ(id.pod_qos, "");
  EXPECT_EQ(id.unit, ""); // the container's scope is the container, not a unit
}

TEST(CgroupPath, DockerCgroupfsDriverAndAServiceInside) {
  const auto id = parse_cgroup_path("/docker/" + kId + "/system.slice/nginx.service");
  EXPECT_EQ(id.container, kId);
  EXPECT_EQ(id.unit, "nginx.service");
}

TEST(CgroupPath, KubernetesBurstablePodUnderContainerd) {
  const auto id = parse_cgroup_path(
      "/kubepods.slice/kubepods-burstable.slice/"
      "kubepods-burstable-pod5e3c1f2a_9b7d_4c1e_8a2f_0d6b4e9c7a31.slice/cri-containerd-" +
      kId + ".scope");
  EXPECT_EQ(id.container, kId);
  EXPECT_EQ(id.pod, "5e3c1f2a-9b7d-4c1e-8a2f-0d6b4e9c7a31");
  EXPECT_EQ(id.pod_qos, "burstable");
  EXPECT_EQ(id.unit, "");
}

TEST(CgroupPath, KubernetesGuaranteedAndBestEffortAndCrio) {
  auto id = parse_cgroup_path("/kubepods.slice/kubepods-podabc_def.slice/crio-" + kId + ".scope");
  EXPECT_EQ(id.container, kId);
  EXPECT_EQ(id.pod, "abc-def");
  EXPECT_EQ(id.pod_qos, "guaranteed");
  id = parse_cgroup_path("/kubepods/besteffort/pod0123-4567/" + kId);
  EXPECT_EQ(id.container, kId);
  EXPECT_EQ(id.pod, "0123-4567");
  EXPECT_EQ(id.pod_qos, "besteffort");
  id = parse_cgroup_path("/kubepods/pod0123/" + kId);
  EXPECT_EQ(id.pod_qos, "guaranteed");
}

TEST(CgroupPath, PodmanAndItsConmonIsNoContainer) {
  EXPECT_EQ(parse_cgroup_path("/machine.slice/libpod-" + kId + ".scope").container, kId);
  const auto conmon = parse_cgroup_path("/machine.slice/libpod-conmon-" + kId + ".scope");
  EXPECT_EQ(conmon.container, "");
  EXPECT_EQ(conmon.unit, "libpod-conmon-" + kId + ".scope");
}

TEST(CgroupPath, SystemdServicesScopesAndNothing) {
  EXPECT_EQ(parse_cgroup_path("/system.slice/foo.service").unit, "foo.service");
  EXPECT_EQ(parse_cgroup_path("/user.slice/user-1000.slice/user@1000.service/app.slice/"
                              "app-gnome-firefox-1234.scope")
                .unit,
            "user@1000.service");
  EXPECT_EQ(parse_cgroup_path("/user.slice/user-1000.slice/session-3.scope").unit,
            "session-3.scope");
  const auto none = parse_cgroup_path("/");
  EXPECT_EQ(none.container + none.pod + none.pod_qos + none.unit, "");
  // Almost a container id: 63 digits, upper case, not hex.
  EXPECT_EQ(parse_cgroup_path("/docker-" + kId.substr(1) + ".scope").container, "");
  std::string upper = kId;
  upper[0] = 'A';
  EXPECT_EQ(parse_cgroup_path("/docker/" + upper).container, "");
  EXPECT_EQ(parse_cgroup_path("/kubepods.slice/kubepods-burstable-podXYZ.slice").pod, "");
}

TEST(ProcFiles, StatGivesParentAndStartWhateverTheName) {
  const auto st = parse_proc_stat(
      "4242 (a) b) (c) S 17 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 123 45\n");
  ASSERT_TRUE(st);
  EXPECT_EQ(st->ppid, 17u);
  EXPECT_EQ(st->start_ticks, 987654u);
  EXPECT_FALSE(parse_proc_stat("4242 (x) S 17 1 2"));
  EXPECT_FALSE(parse_proc_stat("garbage"));
  EXPECT_EQ(start_ticks_of(987654ull * kNsPerTick + 9999999), 987654u);
}

TEST(ProcFiles, CgroupLineAndCmdline) {
  EXPECT_EQ(parse_proc_cgroup("0::/system.slice/foo.service\n").value_or("?"),
            "/system.slice/foo.service");
  EXPECT_EQ(parse_proc_cgroup("4:memory:/x\n1:cpu:/\n0::/a\nb\n").value_or("?"), "/a\nb");
  EXPECT_FALSE(parse_proc_cgroup("1:cpu:/\n"));
  std::string out;
  cmdline_text(std::string_view("python3\0-m\0http.server\0", 23), 1024, out);
  EXPECT_EQ(out, "python3 -m http.server");
  cmdline_text(std::string_view("abc\0def\0", 8), 5, out);
  EXPECT_EQ(out, "abc d");
}

TEST(IdentityJson, FieldsAreWrittenWhenKnownAndReadBack) {
  Record r;
  r.type = RecordType::Connect;
  EXPECT_TRUE(parse_ip("10.0.0.1", r.local.ip));
  EXPECT_TRUE(parse_ip("10.0.0.2", r.remote.ip));
  r.local.port = 40000;
  r.remote.port = 80;
  r.pid = 7;
  r.comm = "kube-controller";
  r.has_details = true;
  std::string plain;
  append_json(plain, r);
  EXPECT_EQ(plain.find("ppid"), std::string::npos); // nothing known, nothing written
  r.ppid = 1;
  r.start_ns = 123456789;
  r.exe = "/usr/bin/kube-controller-manager";
  r.cmdline = "kube-controller-manager --kubeconfig=/etc/k\n\"x\\";
  r.cgroup = "/kubepods.slice/evil\n{\"type\":\"connect\"}";
  r.container = kId;
  r.pod = "abc-def";
  r.pod_qos = "burstable";
  r.unit = "foo.service";
  std::string line;
  append_json(line, r);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_NE(line.find(",\"ppid\":1,\"start_ns\":123456789,\"exe\":\"/usr/bin/"
                      "kube-controller-manager\",\"cmdline\":\"kube-controller-manager "
                      "--kubeconfig=/etc/k\\\\x0a\\\"x\\\\\\\\\",\"cgroup\":"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find(",\"container\":\"" + kId +
                      "\",\"pod\":\"abc-def\",\"pod_qos\":\"burstable\",\"unit\":\"foo.service\""),
            std::string::npos)
      << line;
  Record back;
  ASSERT_EQ(parse_line(std::string_view(line).substr(0, line.size() - 1), back).kind,
            ParseKind::Record);
  EXPECT_TRUE(same_all_fields(back, r));
  EXPECT_EQ(back.cgroup, r.cgroup);
  EXPECT_EQ(back.cmdline, r.cmdline);
  back.unit = "other.service";
  EXPECT_FALSE(same_all_fields(back, r)); // the round-trip checks see every field
  // The arrow line is the prototype's, whatever the identity.
  std::string arrow;
  append_arrow(arrow, r);
  EXPECT_EQ(arrow, "10.0.0.2:80<-10.0.0.1:40000|PID=7 CMD=kube-controller\n");
  Record bad;
  EXPECT_EQ(parse_line(R"({"type":"connect","local_ip":"1.2.3.4","local_port":1,)"
                       R"("remote_ip":"1.2.3.5","remote_port":2,"pid":3,"comm":"x","exe":5})",
                       bad)
                .kind,
            ParseKind::Error);
}

} // namespace
} // namespace nt
