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
#include "tracer/cli_values.h"
#include "tracer/errors.h"
#include "tracer/filters.h"
#include "tracer/serve_cli.h"
#include "version/version.h"

namespace nt {
namespace {

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
             "  6  --serve cannot listen on its address (in use, not allowed)\n"
             "Examples:\n"
             "  sudo nettrace -d 10 | netgraph -T png -o graph.png\n"
             "  sudo nettrace --format json -d 60 > host.trace\n"
             "  sudo nettrace -t -u root --port 443\n"
             "  sudo nettrace --info\n"
             "  sudo nettrace --serve 9477 --user nobody");
  app.set_version_flag("--version", version_line("nettrace"), "Print the version and exit");
  std::string format = "arrow";
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
  app.add_flag("--close", c.show_close,
               "Also print the end of each connection in arrow output ('# close' lines with "
               "duration, bytes, retransmits and who closed it; '# open' lines at exit)");
  // NAT (issue 16): off by default, it costs a netlink round trip per connection.
  app.add_flag("--nat", c.nat,
               "Look each connection up in conntrack and report its translation (NAT, "
               "Kubernetes services, published ports): a '# nat' line after the connection line, "
               "nat_* fields in JSON");
  app.add_flag("-t,--timestamp", c.timestamp,
               "Start each arrow line with the local time, HH:MM:SS.mmm and a space");
  bool snapshot_only = false, no_snapshot = false;
  auto* snap_opt = app.add_flag("--snapshot", snapshot_only,
                                "Print the connections established now, then exit (the filters "
                                "apply)");
  app.add_flag("--no-snapshot", no_snapshot,
               "Do not report the connections already established at start")
      ->excludes(snap_opt);
  // The filters come from their table: a new filter appears here by itself.
  std::vector<AfterParse> after;
  for (const FilterRow& f : filters())
    after.push_back(f.declare(app, c.tracer));
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
  app.add_option("--max-open", c.tracer.owners_max,
                 "Connections followed at once for their close record (default 65536); more are "
                 "counted as evicted and their closes carry pid 0")
      ->type_name("N")
      ->check(whole_number("a number of connections from 1 to 16777216", 1, 16777216));
  app.add_option("--ringbuf-size", c.tracer.ringbuf_size,
                 "Ring buffer bytes: a power of two >= 4096 (default 4 MiB)")
      ->type_name("BYTES")
      ->check(power_of_two_bytes(
          "a power of two from 4096 to 2147483648 bytes (e.g. 4194304 for 4 MiB)", 4096,
          2147483648u));
  app.add_option(
         "--user", c.user,
         "After attaching, switch to USER and drop every capability (but CAP_NET_ADMIN with --nat)")
      ->type_name("USER")
      ->check(existing_user());
  app.add_flag("-v,--verbose", c.tracer.verbose,
               "libbpf's log and backend probing details on stderr");
  after.push_back(declare_serve_options(app, c.serve));

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
  for (const AfterParse& check : after)
    if (std::string e = check(); !e.empty()) {
      err << "nettrace: " << e << '\n';
      return kExitUsage;
    }
  c.snapshot = snapshot_only ? SnapshotMode::Only
               : no_snapshot ? SnapshotMode::Off
                             : SnapshotMode::AtStart;
  c.format = format == "json" ? OutputFormat::Json : OutputFormat::Arrow;
  // Close records when something shows them: JSON, --close, or the served
  // map (its open connections and closed counters).
  c.tracer.closes = c.show_close || c.format == OutputFormat::Json || c.serve.enabled;
  if (c.timestamp && c.format == OutputFormat::Json) {
    err << "nettrace: -t/--timestamp is for arrow lines; JSON lines carry ts_ns already (drop -t "
           "or --format json)\n";
    return kExitUsage;
  }
  return std::nullopt;
}

} // namespace nt
