#include "tracer/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <vector>

#include "tracer/errors.h"

namespace nt {
namespace {

// One --port value, "PORT[,PORT...]": each item a decimal number from 1 to
// 65535 and nothing else (an empty item too is an error). Appends to `ports`;
// on a bad item returns the message that names it.
std::string parse_port_list(const std::string& text, std::vector<uint16_t>& ports) {
  size_t start = 0;
  while (true) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    unsigned v = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || v < 1 || v > 65535)
      return "'" + item + "' is not a port number from 1 to 65535 (a list: --port 80,443)";
    ports.push_back(uint16_t(v));
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
             "  sudo nettrace | netgraph | dot -Tpng -o graph.png\n"
             "  sudo nettrace --format json -d 60 > host.trace\n"
             "  sudo nettrace --info");
  std::string format = "arrow", direction;
  bool v4 = false, v6 = false;
  uint32_t uid = 0;
  app.add_option("--backend", c.tracer.backend,
                 "auto|fentry|kprobe|tracepoint (default auto: cheapest that attaches)")
      ->check(CLI::IsMember({"auto", "fentry", "kprobe", "tracepoint"}));
  app.add_flag("--info", c.info,
               "Print kernel, BTF and which backends load and attach here, then exit");
  app.add_option("--format", format, "arrow|json (default arrow)")
      ->check(CLI::IsMember({"arrow", "json"}));
  app.add_flag("--failed", c.show_failed,
               "Also print failed connects in arrow output ('# failed' lines)");
  app.add_option("-p,--pid", c.tracer.pid, "Only this process id")->check(CLI::Range(1u, 4194304u));
  auto* uid_opt = app.add_option("-u,--uid", uid, "Only this user id");
  app.add_option("--comm", c.tracer.comm,
                 "Only processes with exactly this name (at most 15 bytes)");
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
      ->check(CLI::IsMember({"in", "out"}));
  app.add_option("--netns", c.tracer.netns,
                 "Only this network namespace (inode, as in ls -L -i /proc/PID/ns/net)");
  app.add_option("--cgroup", c.tracer.cgroup_path, "Only this cgroup v2 directory");
  app.add_option("-d,--duration", c.duration_s, "Stop after SECONDS")->check(CLI::PositiveNumber);
  app.add_option("-n,--count", c.count, "Stop after N events")->check(CLI::PositiveNumber);
  app.add_option("--ready-file", c.ready_file, "Create PATH once every program is attached");
  app.add_option("--ringbuf-size", c.tracer.ringbuf_size,
                 "Ring buffer bytes: a power of two >= 4096 (default 4 MiB)");
  app.add_option("--user", c.user, "After attaching, switch to USER and drop every capability");
  app.add_flag("-v,--verbose", c.tracer.verbose,
               "libbpf's log and backend probing details on stderr");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    err << "nettrace: " << e.what() << " (see nettrace --help)\n";
    return kExitUsage;
  }
  if (v4 && v6) {
    err << "nettrace: -4 and -6 exclude each other; give neither for both families\n";
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
  c.format = format == "json" ? OutputFormat::Json : OutputFormat::Arrow;
  return std::nullopt;
}

} // namespace nt
