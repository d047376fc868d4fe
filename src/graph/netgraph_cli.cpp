#include "graph/netgraph_cli.h"

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "graph/reader.h"
#include "graph/render.h"
#include "trace/parse.h"

namespace nt {

std::optional<int> parse_netgraph_cli(int argc, const char* const* argv, NetgraphConfig& c,
                                      std::ostream& out, std::ostream& err) {
  CLI::App app{
      "netgraph: turn nettrace traces into a process-to-process graph (Graphviz DOT by default).\n"
      "Reads arrow lines, JSON lines and '#' markers from FILEs or stdin ('-').",
      "netgraph"};
  app.footer("Exit codes: 0 ok; 1 bad option; 2 unreadable input, or a bad line with --strict; 3 "
             "cannot write or render.\n"
             "Examples:\n"
             "  sudo nettrace | netgraph | dot -Tpng -o graph.png\n"
             "  netgraph host.trace -T svg -o graph.svg\n"
             "  netgraph web1.trace db1.trace --group-by comm > fleet.dot");
  std::string group = "pid";
  app.add_option("files", c.inputs,
                 "Trace files ('-' = stdin; none = stdin). Each file is a host.");
  app.add_option("-T,--format", c.format, "dot|png|svg|pdf|json (default dot)")
      ->check(CLI::IsMember({"dot", "png", "svg", "pdf", "json"}));
  app.add_option("-o,--output", c.output, "Write to FILE (written whole, then renamed into place)");
  app.add_option("--group-by", group, "Nodes are: pid (process, default), comm, host or address")
      ->check(CLI::IsMember({"pid", "comm", "host", "address"}));
  app.add_flag("--per-connection", c.graph.per_connection, "One edge per connection (4-tuple)");
  app.add_flag("--no-loopback", c.graph.no_loopback,
               "Leave out connections to 127.0.0.0/8 and ::1");
  app.add_option("--include", c.graph.include,
                 "Keep only edges with a process name matching REGEX (RE2)");
  app.add_option("--exclude", c.graph.exclude,
                 "Drop edges with a process name matching REGEX (RE2)");
  app.add_option("--min-count", c.graph.min_count, "Drop edges seen fewer than N times")
      ->check(CLI::PositiveNumber);
  app.add_option("--host", c.host,
                 "Host name for stdin input (files are named after their file name)");
  app.add_flag("--strict", c.strict, "Fail on the first line that is not a trace line");
  app.add_flag("--stats", c.stats, "Print counts on stderr");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kNgOk;
  } catch (const CLI::ParseError& e) {
    err << "netgraph: " << e.what() << " (see netgraph --help)\n";
    return kNgUsage;
  }
  c.graph.group_by = group == "comm"      ? GroupBy::Comm
                     : group == "host"    ? GroupBy::Host
                     : group == "address" ? GroupBy::Address
                                          : GroupBy::Pid;
  if (c.inputs.empty())
    c.inputs.push_back("-");
  if (c.format != "dot" && c.format != "json" && c.output.empty()) {
    err << "netgraph: -T " << c.format << " writes a file: add -o FILE\n";
    return kNgUsage;
  }
  return std::nullopt;
}

namespace {

constexpr int kShownWarnings = 5;
constexpr size_t kMaxLine = 1 << 20;

struct Feeder : LineSink {
  GraphBuilder& builder;
  std::string name, host;
  bool strict;
  uint64_t lines = 0, skipped = 0, bad = 0;
  uint64_t& shown;
  bool failed = false;
  uint32_t host_id = UINT32_MAX; // of `host`, once a record needed it
  Record rec;
  ArrowView view;
  LineParser parser;
  Feeder(GraphBuilder& b, std::string n, std::string h, bool s, uint64_t& sh)
      : builder(b), name(std::move(n)), host(std::move(h)), strict(s), shown(sh) {}

  void on_line(std::string_view line, uint64_t lineno, bool overlong) override {
    ++lines;
    if (failed)
      return;
    // Almost every line: a plain arrow line from an input whose host is
    // known (the first record of each input goes the general way, which
    // names the host only when a record needs it).
    if (!overlong && host_id != UINT32_MAX && parser.parse_arrow_view(line, view) &&
        builder.add_arrow(view, host_id))
      return;
    std::string_view why;
    if (overlong) {
      why = "line longer than 1 MiB";
    } else {
      ParseResult r = parser.parse(line, rec);
      if (r.kind == ParseKind::Record) {
        // Resolved at the first record that needs it, so an input without
        // records adds no host (and no cluster) to the graph.
        if (host_id == UINT32_MAX && rec.host.empty())
          host_id = builder.host_id(host);
        builder.add(rec, host_id);
        return;
      }
      if (r.kind == ParseKind::Skip) {
        ++skipped;
        return;
      }
      why = r.error;
    }
    ++bad;
    if (strict) {
      std::fprintf(
          stderr,
          "netgraph: %s:%llu: %.*s (--strict stops here; drop --strict to skip bad lines)\n",
          name.c_str(), static_cast<unsigned long long>(lineno), int(why.size()), why.data());
      failed = true;
      return;
    }
    if (shown < kShownWarnings) {
      ++shown;
      std::fprintf(stderr, "netgraph: %s:%llu: skipped: %.*s\n", name.c_str(),
                   static_cast<unsigned long long>(lineno), int(why.size()), why.data());
    }
  }
};

std::string host_of(const std::string& path, const std::string& stdin_host) {
  if (path == "-")
    return stdin_host;
  return std::filesystem::path(path).stem().string();
}

} // namespace

int run_netgraph(const NetgraphConfig& c) {
  std::unique_ptr<GraphBuilder> builder;
  try {
    builder = std::make_unique<GraphBuilder>(c.graph);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "netgraph: bad regular expression: %s\n", e.what());
    return kNgUsage;
  }
  uint64_t shown = 0, lines = 0, bad = 0, skipped = 0;
  for (const std::string& in : c.inputs) {
    int fd = in == "-" ? STDIN_FILENO : ::open(in.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      std::fprintf(stderr, "netgraph: cannot open %s: %s\n", in.c_str(), std::strerror(errno));
      return kNgInput;
    }
    Feeder feed(*builder, in == "-" ? "<stdin>" : in, host_of(in, c.host), c.strict, shown);
    std::string err;
    bool ok = read_lines(fd, kMaxLine, feed, err);
    if (fd != STDIN_FILENO)
      ::close(fd);
    if (!ok) {
      std::fprintf(stderr, "netgraph: cannot read %s: %s\n", in.c_str(), err.c_str());
      return kNgInput;
    }
    if (feed.failed)
      return kNgInput;
    lines += feed.lines;
    bad += feed.bad;
    skipped += feed.skipped;
  }
  if (bad > shown)
    std::fprintf(stderr,
                 "netgraph: %llu lines were not trace lines and were skipped (first %llu shown)\n",
                 static_cast<unsigned long long>(bad), static_cast<unsigned long long>(shown));
  Graph g = builder->finish();
  if (g.incomplete())
    std::fprintf(stderr, "netgraph: the trace reports %llu lost events: the graph is incomplete\n",
                 static_cast<unsigned long long>(g.stats.lost));
  if (c.stats) {
    const GraphStats& s = g.stats;
    std::fprintf(
        stderr,
        "netgraph: lines %llu, events %llu (connect %llu, accept %llu), failed %llu, lost %llu, "
        "pairs matched %llu, unmatched %llu, skipped %llu, bad %llu, nodes %zu, edges %zu, "
        "ambiguous pairs %llu\n",
        (unsigned long long)lines, (unsigned long long)s.events, (unsigned long long)s.connects,
        (unsigned long long)s.accepts, (unsigned long long)s.failed, (unsigned long long)s.lost,
        (unsigned long long)s.matched,
        (unsigned long long)(s.unmatched_connects + s.unmatched_accepts),
        (unsigned long long)skipped, (unsigned long long)bad, g.nodes.size(), g.edges.size(),
        (unsigned long long)s.ambiguous);
  }

  // Output: to stdout, or into a temporary beside the target renamed into
  // place, so a failure never leaves half a file behind.
  std::string tmp;
  if (!c.output.empty())
    tmp = c.output + ".tmp." + std::to_string(getpid());
  auto fail_out = [&](const std::string& why) {
    if (!tmp.empty())
      ::unlink(tmp.c_str());
    std::fprintf(stderr, "netgraph: cannot write %s: %s\n",
                 c.output.empty() ? "stdout" : c.output.c_str(), why.c_str());
    return kNgOutput;
  };
  if (c.format == "dot" || c.format == "json") {
    FILE* f = tmp.empty() ? stdout : std::fopen(tmp.c_str(), "w");
    if (!f)
      return fail_out(std::strerror(errno));
    bool ok;
    if (c.format == "dot") {
      ok = write_dot(g, f);
    } else {
      std::string j = to_json(g);
      ok = std::fwrite(j.data(), 1, j.size(), f) == j.size() && std::fflush(f) == 0;
    }
    int saved = errno;
    if (f != stdout && std::fclose(f) != 0)
      ok = false;
    if (!ok)
      return fail_out(std::strerror(saved ? saved : EIO));
  } else {
    std::string why;
    if (!render_file(g, c.format, tmp, why))
      return fail_out(why);
  }
  if (!tmp.empty() && std::rename(tmp.c_str(), c.output.c_str()) != 0)
    return fail_out(std::strerror(errno));
  return kNgOk;
}

} // namespace nt
