#include "tracer/cli.h"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "tracer/backend.h"
#include "tracer/errors.h"
#include "version/version.h"

namespace nt {
namespace {

// Every value check below returns "" for a good value, or "expected <what the
// option accepts, in words>, got '<text>' (<why not>)". CLI11 puts the option's
// name in front; parse_cli widens that to every spelling ("-d/--duration").
std::string expected(std::string_view what, std::string_view text, std::string_view why = {}) {
  std::string m = "expected " + std::string(what) + ", got '" + std::string(text) + "'";
  if (!why.empty())
    m += " (" + std::string(why) + ")";
  return m;
}

constexpr const char* kNotANumber = "not a number";

// Why `s` is not a whole number in [min, max] ("not a number", "too small",
// "too large"), or nullptr when it is one (then in `v`). Digits only: no sign,
// no spaces, no hex (what a person means by a number of things); a leading '-'
// on digits is a number, just a too small one.
const char* whole_in_range(std::string_view s, uint64_t min, uint64_t max, uint64_t& v) {
  if (s.size() > 1 && s[0] == '-' && s.find_first_not_of("0123456789", 1) == std::string_view::npos)
    return "too small";
  if (s.empty() || s.find_first_not_of("0123456789") != std::string_view::npos)
    return kNotANumber;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range)
    return "too large";
  if (ec != std::errc{} || end != s.data() + s.size())
    return kNotANumber;
  return v < min ? "too small" : v > max ? "too large" : nullptr;
}

// A whole number in [min, max].
CLI::Validator whole_number(std::string what, uint64_t min, uint64_t max) {
  return CLI::Validator(
      [what, min, max](std::string& text) -> std::string {
        uint64_t v = 0;
        const char* why = whole_in_range(text, min, max, v);
        return why ? expected(what, text, why) : std::string();
      },
      "", "whole_number");
}

// A positive, finite decimal number of seconds, at most `max`.
CLI::Validator seconds(std::string what, double max) {
  return CLI::Validator(
      [what, max](std::string& text) -> std::string {
        double v = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || end != text.data() + text.size() ||
            (ec != std::errc{} && ec != std::errc::result_out_of_range) || std::isnan(v))
          return expected(what, text, "not a number");
        if (ec == std::errc::result_out_of_range) // from_chars leaves v alone: ask strtod which way
          return expected(what, text,
                          std::fabs(std::strtod(text.c_str(), nullptr)) < 1 ? "too small"
                                                                            : "too large");
        if (std::isinf(v) || v > max)
          return expected(what, text, v < 0 ? "too small" : "too large");
        if (v <= 0)
          return expected(what, text, "too small");
        return {};
      },
      "", "seconds");
}

CLI::Validator power_of_two_bytes(std::string what, uint64_t min, uint64_t max) {
  CLI::Validator range = whole_number(what, min, max);
  return CLI::Validator(
      [what, range](std::string& text) -> std::string {
        if (std::string e = range(text); !e.empty())
          return e;
        uint64_t v = std::stoull(text);
        return (v & (v - 1)) == 0 ? std::string() : expected(what, text, "not a power of two");
      },
      "", "power_of_two");
}

// One of a fixed set of words.
CLI::Validator one_of(std::vector<std::string> words) {
  std::string what;
  for (size_t i = 0; i < words.size(); ++i)
    what += (i == 0 ? "" : i + 1 == words.size() ? " or " : ", ") + words[i];
  return CLI::Validator(
      [what, words](std::string& text) -> std::string {
        for (const auto& w : words)
          if (text == w)
            return {};
        return expected(what, text);
      },
      "", "one_of");
}

// -u: a numeric uid as before, or a user name (as BCC's tools take), resolved
// here from the user database and replaced by its uid.
CLI::Validator uid_or_user() {
  const std::string what = "a user name or a numeric uid from 0 to 4294967294";
  return CLI::Validator(
      [what](std::string& text) -> std::string {
        uint64_t v = 0;
        const char* why = whole_in_range(text, 0, 4294967294u, v);
        if (!why)
          return {};
        if (why != kNotANumber)
          return expected(what, text, why);
        errno = 0;
        const passwd* pw = text.empty() ? nullptr : getpwnam(text.c_str());
        if (!pw)
          return expected(what, text, "no such user on this host");
        text = std::to_string(pw->pw_uid);
        return {};
      },
      "", "uid_or_user");
}

// --user: a user that exists, checked now rather than after every program is
// attached.
CLI::Validator existing_user() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        errno = 0;
        if (!text.empty() && getpwnam(text.c_str()))
          return {};
        return expected("the name of a user that exists here (e.g. nobody)", text,
                        "no such user on this host");
      },
      "", "existing_user");
}

// --ready-file: a path nettrace will be able to create once attached.
CLI::Validator creatable_file() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        const std::string what = "a file path in a directory nettrace can write to";
        if (text.empty())
          return expected(what, text, "empty");
        const size_t slash = text.find_last_of('/');
        const std::string dir = slash == std::string::npos ? "."
                                : slash == 0               ? "/"
                                                           : text.substr(0, slash);
        struct stat st {};
        if (stat(dir.c_str(), &st) != 0)
          return expected(what, text, "directory " + dir + ": " + std::strerror(errno));
        if (!S_ISDIR(st.st_mode))
          return expected(what, text, dir + " is not a directory");
        if (access(dir.c_str(), W_OK | X_OK) != 0)
          return expected(what, text, "cannot write in " + dir + ": " + std::strerror(errno));
        if (stat(text.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
          return expected(what, text, "it is a directory");
        if (access(text.c_str(), F_OK) == 0 && access(text.c_str(), W_OK) != 0)
          return expected(what, text, std::string("cannot write it: ") + std::strerror(errno));
        return {};
      },
      "", "creatable_file");
}

// CLI11 names an option by its first long name ("--duration: ..."); a user
// who typed -d should see that spelling too: "-d/--duration: ...".
std::string with_every_name(const CLI::App& app, std::string message) {
  const size_t colon = message.find(": ");
  if (colon == std::string::npos || message.compare(0, 1, "-") != 0)
    return message;
  const std::string name = message.substr(0, colon);
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_name() != name)
      continue;
    std::string all = opt->get_name(false, true); // "-d,--duration"
    for (char& ch : all)
      if (ch == ',')
        ch = '/';
    return all + message.substr(colon);
  }
  return message;
}

// One --port value, "PORT[,PORT...]": each item a whole number from 1 to 65535
// and nothing else (an empty item too is an error). Appends to `ports`; on a
// bad item returns the message that names it, worded like every other value.
std::string parse_port_list(const std::string& text, std::vector<uint16_t>& ports) {
  static const CLI::Validator port =
      whole_number("a port number from 1 to 65535, or a comma-separated list of them", 1, 65535);
  size_t start = 0;
  while (true) {
    const size_t comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    if (std::string e = port(item); !e.empty())
      return e;
    ports.push_back(uint16_t(std::stoul(item)));
    if (comma == text.size())
      return "";
    start = comma + 1;
  }
}

} // namespace

std::optional<int> parse_cli(int argc, const char* const* argv, NettraceConfig& c,
                             std::ostream& out, std::ostream& err) {
  CLI::App app{
      "nettrace: trace TCP connects and accepts with eBPF, one line per connection.\n"
      "Output (stdout): arrow lines '<remote><-<local>|PID=<pid> CMD=<comm>' for connects,\n"
      "'->' for accepts; or JSON lines with --format json. Diagnostics go to stderr.",
      "nettrace"};
  app.footer("Exit codes:\n"
             "  0  ok (also after SIGINT, SIGTERM, --duration, --count, or a closed stdout)\n"
             "  1  bad option or value\n"
             "  2  no privilege: run as root, or grant CAP_BPF and CAP_PERFMON\n"
             "  3  the kernel has no BTF (/sys/kernel/btf/vmlinux)\n"
             "  4  the chosen backend (or, with auto, every backend) cannot load or attach\n"
             "  5  runtime error (ring buffer, output)\n"
             "Examples:\n"
             "  sudo nettrace -d 10 | netgraph -T png -o graph.png\n"
             "  sudo nettrace --format json -d 60 > host.trace\n"
             "  sudo nettrace -t -u root --port 443\n"
             "  sudo nettrace --info");
  app.set_version_flag("--version", version_line("nettrace"), "Print the version and exit");
  std::string format = "arrow", direction;
  bool v4 = false, v6 = false;
  uint32_t uid = 0;
  // The names come from the backend table: a new backend appears here by itself.
  std::string backend_help;
  for (const std::string& name : backend_choices())
    backend_help += (backend_help.empty() ? "" : "|") + name;
  app.add_option("--backend", c.tracer.backend,
                 backend_help + " (default auto: cheapest that attaches)")
      ->type_name("NAME")
      ->check(one_of(backend_choices()));
  app.add_flag("--info", c.info,
               "Print kernel, BTF and which backends load and attach here (and why the others "
               "do not), then exit");
  app.add_option("--format", format, "arrow|json (default arrow)")
      ->type_name("FORMAT")
      ->check(one_of({"arrow", "json"}));
  app.add_flag("--failed", c.show_failed,
               "Also print failed connects in arrow output ('# failed' lines)");
  app.add_flag("-t,--timestamp", c.timestamp,
               "Start each arrow line with the local time, HH:MM:SS.mmm and a space");
  app.add_option("-p,--pid", c.tracer.pid, "Only this process id")
      ->type_name("PID")
      ->check(whole_number("a process id, a whole number from 1 to 4194304", 1, 4194304));
  auto* uid_opt = app.add_option("-u,--uid", uid, "Only this user (a name or a numeric uid)")
                      ->type_name("USER")
                      ->transform(uid_or_user());
  app.add_option("--comm", c.tracer.comm,
                 "Only processes with exactly this name (at most 15 bytes)")
      ->type_name("NAME");
  std::vector<std::string> ports;
  app.add_option("--port", ports,
                 "Only connections with one of these local or remote ports (comma-separated, "
                 "at most " +
                     std::to_string(kMaxPorts) + ")")
      ->type_name("PORT[,PORT...]")
      ->check(CLI::Validator(
          [](std::string& s) {
            std::vector<uint16_t> unused;
            return parse_port_list(s, unused);
          },
          ""));
  app.add_flag("-4", v4, "Only IPv4");
  app.add_flag("-6", v6, "Only IPv6");
  app.add_option("--direction", direction, "in (accepts) or out (connects)")
      ->type_name("in|out")
      ->check(one_of({"in", "out"}));
  app.add_option("--netns", c.tracer.netns,
                 "Only this network namespace (inode, as in ls -L -i /proc/PID/ns/net)")
      ->type_name("INODE")
      ->check(
          whole_number("a network namespace inode, a whole number from 1 to 4294967295 (ls -L -i "
                       "/proc/PID/ns/net shows it)",
                       1, 4294967295u));
  app.add_option("--cgroup", c.tracer.cgroup_path, "Only this cgroup v2 directory")
      ->type_name("PATH");
  app.add_option("-d,--duration", c.duration_s, "Stop after SECONDS (a decimal number)")
      ->type_name("SECONDS")
      ->check(seconds("a number of seconds greater than 0 and at most 1000000000", 1e9));
  app.add_option("-n,--count", c.count, "Stop after N connections")
      ->type_name("N")
      ->check(whole_number("a whole number of connections, at least 1", 1,
                           std::numeric_limits<uint64_t>::max()));
  app.add_option("--ready-file", c.ready_file, "Create PATH once every program is attached")
      ->type_name("PATH")
      ->check(creatable_file());
  app.add_option("--ringbuf-size", c.tracer.ringbuf_size,
                 "Ring buffer bytes: a power of two >= 4096 (default 4 MiB)")
      ->type_name("BYTES")
      ->check(power_of_two_bytes(
          "a power of two from 4096 to 2147483648 bytes (e.g. 4194304 for 4 MiB)", 4096,
          2147483648u));
  app.add_option("--user", c.user, "After attaching, switch to USER and drop every capability")
      ->type_name("USER")
      ->check(existing_user());
  app.add_flag("-v,--verbose", c.tracer.verbose,
               "libbpf's log and backend probing details on stderr");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kExitOk;
  } catch (const CLI::CallForVersion& v) {
    out << v.what() << '\n';
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    err << "nettrace: " << with_every_name(app, e.what()) << " (see nettrace --help)\n";
    return kExitUsage;
  }
  if (v4 && v6) {
    err << "nettrace: -4 and -6 exclude each other; give neither for both families\n";
    return kExitUsage;
  }
  c.format = format == "json" ? OutputFormat::Json : OutputFormat::Arrow;
  if (c.timestamp && c.format == OutputFormat::Json) {
    err << "nettrace: -t/--timestamp is for arrow lines; JSON lines carry ts_ns already (drop -t "
           "or --format json)\n";
    return kExitUsage;
  }
  for (const auto& p : ports)
    parse_port_list(p, c.tracer.ports); // checked above
  if (c.tracer.ports.size() > kMaxPorts) {
    err << "nettrace: --port: " << c.tracer.ports.size() << " ports given; at most " << kMaxPorts
        << " can be filtered on\n";
    return kExitUsage;
  }
  c.tracer.family = v4 ? 4 : v6 ? 6 : 0;
  if (*uid_opt)
    c.tracer.uid = uid;
  c.tracer.direction = direction == "in"    ? Direction::In
                       : direction == "out" ? Direction::Out
                                            : Direction::Both;
  return std::nullopt;
}

} // namespace nt
