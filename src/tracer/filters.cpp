#include "tracer/filters.h"

#include <linux/types.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <array>
#include <cstring>
#include <memory>

#include "tracer/cli_values.h"
#include "tracer/errors.h"
#include "tracer/event_decode.h"

extern "C" {
#include "nettrace_event.h"
}

namespace nt {
namespace {

AfterParse nothing_after() {
  return [] { return std::string(); };
}

// --- -p/--pid -----------------------------------------------------------------
AfterParse pid_cli(CLI::App& app, TracerOptions& o) {
  app.add_option("-p,--pid", o.pid, "Only this process id")
      ->type_name("PID")
      ->check(whole_number("a process id, a whole number from 1 to 4194304", 1, 4194304));
  return nothing_after();
}
void pid_apply(const TracerOptions& o, nt_config& c) {
  c.pid = o.pid;
}

// --- -u/--uid: a numeric uid, or a user name resolved here ---------------------
AfterParse uid_cli(CLI::App& app, TracerOptions& o) {
  app.add_option_function<uint32_t>(
         "-u,--uid", [&o](const uint32_t& uid) { o.uid = uid; },
         "Only this user (a name or a numeric uid)")
      ->type_name("USER")
      ->transform(uid_or_user());
  return nothing_after();
}
void uid_apply(const TracerOptions& o, nt_config& c) {
  c.filter_uid = o.uid.has_value();
  c.uid = o.uid.value_or(0);
}

// --- --comm -------------------------------------------------------------------
AfterParse comm_cli(CLI::App& app, TracerOptions& o) {
  app.add_option("--comm", o.comm, "Only processes with exactly this name (at most 15 bytes)")
      ->type_name("NAME");
  return nothing_after();
}
void comm_apply(const TracerOptions& o, nt_config& c) {
  if (o.comm.empty())
    return;
  if (o.comm.size() > 15)
    throw TracerError(kExitUsage, "--comm '" + o.comm +
                                      "' is longer than the 15 bytes the kernel keeps of a "
                                      "process name");
  c.filter_comm = 1;
  std::memcpy(c.comm, o.comm.data(), o.comm.size());
}

// --- --port PORT[,PORT...], repeatable ----------------------------------------
std::string too_many_ports(size_t n) {
  return "--port: " + std::to_string(n) + " ports given; at most " + std::to_string(kMaxPorts) +
         " can be filtered on";
}
AfterParse port_cli(CLI::App& app, TracerOptions& o) {
  app.add_option_function<std::vector<std::string>>(
         "--port",
         [&o](const std::vector<std::string>& items) {
           for (const auto& item : items)
             parse_port_list(item, o.ports); // checked below
         },
         "Only connections with one of these local or remote ports (comma-separated, at most " +
             std::to_string(kMaxPorts) + ")")
      ->type_name("PORT[,PORT...]")
      ->check(CLI::Validator(
          [](std::string& s) {
            std::vector<uint16_t> unused;
            return parse_port_list(s, unused);
          },
          ""));
  return [&o] { return o.ports.size() > kMaxPorts ? too_many_ports(o.ports.size()) : ""; };
}
void port_apply(const TracerOptions& o, nt_config& c) {
  if (o.ports.size() > kMaxPorts)
    throw TracerError(kExitUsage, too_many_ports(o.ports.size()));
  static_assert(sizeof c.ports / sizeof c.ports[0] == kMaxPorts, "NT_MAX_PORTS != kMaxPorts");
  for (size_t i = 0; i < o.ports.size(); ++i)
    c.ports[i] = o.ports[i];
  c.nports = uint32_t(o.ports.size());
}

// --- -4 / -6 ------------------------------------------------------------------
AfterParse family_cli(CLI::App& app, TracerOptions& o) {
  auto both = std::make_shared<std::array<bool, 2>>();
  app.add_flag_callback(
      "-4",
      [&o, both] {
        (*both)[0] = true;
        o.family = 4;
      },
      "Only IPv4");
  app.add_flag_callback(
      "-6",
      [&o, both] {
        (*both)[1] = true;
        o.family = 6;
      },
      "Only IPv6");
  return [both] {
    return (*both)[0] && (*both)[1]
               ? std::string("-4 and -6 exclude each other; give neither for both families")
               : std::string();
  };
}
void family_apply(const TracerOptions& o, nt_config& c) {
  c.family = af_of_ip_family(o.family);
}

// --- --direction in|out -------------------------------------------------------
AfterParse direction_cli(CLI::App& app, TracerOptions& o) {
  app.add_option_function<std::string>(
         "--direction",
         [&o](const std::string& d) { o.direction = d == "in" ? Direction::In : Direction::Out; },
         "in (accepts) or out (connects)")
      ->type_name("in|out")
      ->check(one_of({"in", "out"}));
  return nothing_after();
}
void direction_apply(const TracerOptions& o, nt_config& c) {
  c.direction = o.direction == Direction::Out  ? NT_DIR_CONNECTS
                : o.direction == Direction::In ? NT_DIR_ACCEPTS
                                               : NT_DIR_BOTH;
}

// --- --netns INODE ------------------------------------------------------------
AfterParse netns_cli(CLI::App& app, TracerOptions& o) {
  app.add_option("--netns", o.netns,
                 "Only this network namespace (inode, as in ls -L -i /proc/PID/ns/net)")
      ->type_name("INODE")
      ->check(
          whole_number("a network namespace inode, a whole number from 1 to 4294967295 (ls -L -i "
                       "/proc/PID/ns/net shows it)",
                       1, 4294967295u));
  return nothing_after();
}
void netns_apply(const TracerOptions& o, nt_config& c) {
  c.netns = o.netns;
}

// --- --cgroup PATH: on cgroup v2 the directory's inode is the cgroup id -------
AfterParse cgroup_cli(CLI::App& app, TracerOptions& o) {
  app.add_option("--cgroup", o.cgroup_path, "Only this cgroup v2 directory")->type_name("PATH");
  return nothing_after();
}
void cgroup_apply(const TracerOptions& o, nt_config& c) {
  if (o.cgroup_path.empty())
    return;
  struct stat st {};
  if (stat(o.cgroup_path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw TracerError(kExitUsage,
                      "--cgroup " + o.cgroup_path +
                          ": not a cgroup v2 directory (e.g. /sys/fs/cgroup/system.slice)");
  c.cgroup_id = st.st_ino;
}

// In the order --help lists them.
constexpr std::array kFilters = {
    FilterRow{"--pid", pid_cli, pid_apply},
    FilterRow{"--uid", uid_cli, uid_apply},
    FilterRow{"--comm", comm_cli, comm_apply},
    FilterRow{"--port", port_cli, port_apply},
    FilterRow{"-4/-6", family_cli, family_apply},
    FilterRow{"--direction", direction_cli, direction_apply},
    FilterRow{"--netns", netns_cli, netns_apply},
    FilterRow{"--cgroup", cgroup_cli, cgroup_apply},
};

} // namespace

std::span<const FilterRow> filters() {
  return kFilters;
}

} // namespace nt
