#include "graph/netgraph_cli.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>

#include "graph/fleet.h"
#include "graph/reader.h"
#include "graph/render.h"
#include "serve/http_server.h"
#include "trace/parse.h"
#include "util/unique_fd.h"
#include "version/version.h"

namespace nt {

std::optional<int> parse_netgraph_cli(int argc, const char* const* argv, NetgraphConfig& c,
                                      std::ostream& out, std::ostream& err) {
  CLI::App app{
      "netgraph: turn nettrace traces into a process-to-process graph (Graphviz DOT by default).\n"
      "Reads arrow lines, JSON lines and '#' markers from FILEs or stdin ('-').",
      "netgraph"};
  app.footer("Exit codes: 0 ok; 1 bad option; 2 unreadable input, or a bad line with --strict; 3 "
             "cannot write or render; 4 internal error (out of memory, say); 5 --prometheus: no "
             "answer, an "
             "HTTP error, or Prometheus reports an error; 6 --prometheus: no nettrace edge series "
             "in the answer; 7 --serve: cannot listen on the address.\n"
             "SIGINT or SIGTERM while reading a pipe means: draw what was read, exit 0.\n"
             "Examples:\n"
             "  sudo nettrace | netgraph -T png -o graph.png     (end with Ctrl-C)\n"
             "  netgraph host.trace -T svg -o graph.svg\n"
             "  netgraph web1.trace db1.trace --group-by comm > fleet.dot\n"
             "  netgraph --prometheus http://prometheus:9090 --range 6h -T svg -o fleet.svg\n"
             "  netgraph --serve 127.0.0.1:9100 web1.trace db1.trace   (then open "
             "http://127.0.0.1:9100/)");
  app.set_version_flag("--version", version_line("netgraph"), "Print the version and exit");
  std::string group = "pid";
  app.add_option("files", c.inputs,
                 "Trace files ('-' = stdin; none = stdin). Each file is a host.");
  app.add_option("-T,--format", c.format, "dot|png|svg|pdf|json (default dot)")
      ->check(CLI::IsMember({"dot", "png", "svg", "pdf", "json"}));
  app.add_option("-o,--output", c.output,
                 "Write to FILE (written whole, then renamed into place); none or '-': stdout");
  auto* group_by =
      app.add_option("--group-by", group,
                     "Nodes are: pid (one per process), comm, host, address, service (one per "
                     "process, and the service addresses NAT sent connections through, from "
                     "nettrace --nat, drawn between clients and servers), or from JSON traces "
                     "exe, container, pod, unit or cgroup. Default: one per process, with "
                     "client-only processes of one name on one host drawn as one")
          ->check(CLI::IsMember({"pid", "comm", "host", "address", "service", "exe", "container",
                                 "pod", "unit", "cgroup"}));
  app.add_flag("--per-connection", c.graph.per_connection, "One edge per connection (4-tuple)");
  app.add_option("--weight", c.weight,
                 "Pen width of the edges by count (connections) or bytes (payload, from "
                 "nettrace's close records); default: all alike")
      ->check(CLI::IsMember({"count", "bytes"}));
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
  auto* prom = app.add_option("--prometheus", c.prometheus,
                              "Draw the fleet from the nettrace --serve counters a Prometheus "
                              "server at URL holds (one cluster per instance) instead of traces");
  app.add_option("--range", c.range,
                 "With --prometheus: the connections of this last span (Prometheus duration: "
                 "30m, 1h, 7d; default 1h)")
      ->check([](const std::string& v) {
        return valid_prom_duration(v) ? std::string()
                                      : "not a Prometheus duration (30s, 15m, 1h, 1h30m, 7d)";
      });
  app.add_option("--query-filter", c.query_filter,
                 "With --prometheus: label matchers for the series, as inside PromQL braces "
                 "(job=\"nettrace\",instance=~\"web.*\")");
  auto* serve =
      app.add_option("--serve", c.serve,
                     "Serve the graph as a web page at [ADDR:]PORT (default address 127.0.0.1) "
                     "instead of writing it: the traces read once, or the fleet from "
                     "--prometheus asked again every --refresh seconds")
          ->check([](const std::string& v) {
            ListenAddr a;
            return parse_listen_addr(v, a);
          });
  app.add_option("--refresh", c.refresh_s,
                 "With --serve --prometheus: ask Prometheus again every N seconds (default 15)")
      ->check(CLI::Range(1, 86400));
  app.add_flag("--strict", c.strict, "Fail on the first line that is not a trace line");
  app.add_flag("--stats", c.stats, "Print counts on stderr");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out << app.help();
    return kNgOk;
  } catch (const CLI::CallForVersion& v) {
    out << v.what() << '\n';
    return kNgOk;
  } catch (const CLI::ParseError& e) {
    err << "netgraph: " << e.what() << " (see netgraph --help)\n";
    return kNgUsage;
  }
  if (prom->count() == 0 && (app.count("--range") || app.count("--query-filter"))) {
    err << "netgraph: --range and --query-filter go with --prometheus URL (see netgraph --help)\n";
    return kNgUsage;
  }
  if (prom->count() &&
      (!c.inputs.empty() || group_by->count() || c.graph.per_connection || !c.host.empty())) {
    err << "netgraph: --prometheus draws Prometheus' counters: no FILE, --group-by, "
           "--per-connection or --host with it (see netgraph --help)\n";
    return kNgUsage;
  }
  if (serve->count() && (app.count("--format") || app.count("--output") || app.count("--weight"))) {
    err << "netgraph: --serve serves a web page: no -T, -o or --weight with it (see netgraph "
           "--help)\n";
    return kNgUsage;
  }
  if (!serve->count() && app.count("--refresh")) {
    err << "netgraph: --refresh goes with --serve --prometheus (see netgraph --help)\n";
    return kNgUsage;
  }
  if (prom->count() && c.query_filter.size() >= 2 && c.query_filter.front() == '{' &&
      c.query_filter.back() == '}')
    c.query_filter = c.query_filter.substr(1, c.query_filter.size() - 2);
  c.graph.group_by = group == "comm"        ? GroupBy::Comm
                     : group == "host"      ? GroupBy::Host
                     : group == "address"   ? GroupBy::Address
                     : group == "service"   ? GroupBy::Service
                     : group == "exe"       ? GroupBy::Exe
                     : group == "container" ? GroupBy::Container
                     : group == "pod"       ? GroupBy::Pod
                     : group == "unit"      ? GroupBy::Unit
                     : group == "cgroup"    ? GroupBy::Cgroup
                                            : GroupBy::Pid;
  c.present.collapse_clients = group_by->count() == 0;
  c.present.min_count = c.graph.min_count; // present() applies it, after collapsing
  if (c.inputs.empty())
    c.inputs.push_back("-");
  if (c.output == "-")
    c.output.clear(); // stdout, as dot does
  return std::nullopt;
}

namespace {

constexpr int kShownWarnings = 5;
constexpr size_t kMaxLine = 1 << 20;

struct Feeder final : LineConsumer {
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

  // A block of whole lines: the fast lane inline, one line after the other;
  // anything it does not take goes to on_line().
  void on_lines(const char* begin, const char* end, size_t max_line, uint64_t& lineno) override {
    while (begin != end) {
      const char* nl = next_newline(begin); // (end[-1] is a '\n')
      const std::string_view line(begin, size_t(nl - begin));
      begin = nl + 1;
      ++lineno;
      if (!failed && host_id != UINT32_MAX && line.size() <= max_line &&
          parser.parse_arrow_view(line, view) && builder.add_arrow(view, host_id)) {
        ++lines;
        continue;
      }
      if (line.size() > max_line)
        on_line({}, lineno, true);
      else
        on_line(line, lineno, false);
    }
  }

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

// "Finish now" on SIGINT and SIGTERM while reading a stream (see
// NetgraphConfig::finish_on_signal). The handler only records the signal and
// is reset by the kernel as it runs (SA_RESETHAND): a second SIGINT kills as
// usual. The signals are blocked except inside read_lines()'s wait, so one
// that comes while lines are being processed is not lost.
volatile int finish_signal = 0;
void on_finish_signal(int sig) {
  finish_signal = sig;
}

class FinishOnSignal {
public:
  FinishOnSignal() {
    finish_signal = 0;
    sigset_t both;
    sigemptyset(&both);
    sigaddset(&both, SIGINT);
    sigaddset(&both, SIGTERM);
    sigprocmask(SIG_BLOCK, &both, &old_mask_);
    wait_mask_ = old_mask_;
    struct sigaction sa {};
    sa.sa_handler = on_finish_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    for (int i = 0; i < 2; ++i) {
      const int sig = i == 0 ? SIGINT : SIGTERM;
      sigaction(sig, nullptr, &old_[i]);
      // A signal the parent ignores (a background job of a script) stays ignored.
      if (old_[i].sa_handler == SIG_IGN)
        continue;
      sigaction(sig, &sa, nullptr);
      sigdelset(&wait_mask_, sig);
    }
  }
  ~FinishOnSignal() {
    // One that came after the last wait asked for what happens now anyway.
    sigset_t pending, both;
    sigemptyset(&both);
    sigaddset(&both, SIGINT);
    sigaddset(&both, SIGTERM);
    sigpending(&pending);
    if (!finish_signal && (sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM))) {
      const timespec now{};
      int sig = sigtimedwait(&both, nullptr, &now);
      if (sig > 0)
        finish_signal = sig;
    }
    sigaction(SIGINT, &old_[0], nullptr);
    sigaction(SIGTERM, &old_[1], nullptr);
    sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
  }
  FinishOnSignal(const FinishOnSignal&) = delete;
  FinishOnSignal& operator=(const FinishOnSignal&) = delete;
  ReadStop stop() const { return ReadStop{&finish_signal, &wait_mask_}; }

private:
  sigset_t old_mask_, wait_mask_;
  struct sigaction old_[2];
};

bool is_stream(int fd) {
  struct stat st;
  return ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode);
}

std::string host_of(const std::string& path, const std::string& stdin_host) {
  if (path == "-")
    return stdin_host;
  return std::filesystem::path(path).stem().string();
}

} // namespace

std::optional<int> prometheus_graph(const NetgraphConfig& c, Graph& g) {
  const std::string query = fleet_query(c.range, c.query_filter);
  std::string body, error;
  const long status = query_prometheus(c.prometheus, query, body, error);
  if (status == 0) {
    std::fprintf(stderr,
                 "netgraph: cannot reach Prometheus at %s: %s (check the URL, and that "
                 "Prometheus runs)\n",
                 c.prometheus.c_str(), error.c_str());
    return kNgPrometheus;
  }
  std::vector<FleetSeries> series;
  const bool parsed = parse_prometheus_answer(body, series, error);
  if (status != 200) {
    // Prometheus answers a bad query with 400 and its reason in JSON.
    std::fprintf(stderr, "netgraph: Prometheus at %s answered HTTP %ld: %s\n", c.prometheus.c_str(),
                 status,
                 !parsed && error.rfind("Prometheus says", 0) == 0
                     ? error.c_str()
                     : "not a query answer (is the URL Prometheus' own, without a path?)");
    return kNgPrometheus;
  }
  if (!parsed) {
    std::fprintf(stderr, "netgraph: Prometheus at %s: %s\n", c.prometheus.c_str(), error.c_str());
    return kNgPrometheus;
  }
  if (series.empty()) {
    std::fprintf(stderr,
                 "netgraph: Prometheus at %s holds no nettrace_connections_total series with "
                 "connections in the last %s%s%s (does it scrape nettrace --serve? widen "
                 "--range)\n",
                 c.prometheus.c_str(), c.range.c_str(), c.query_filter.empty() ? "" : " matching ",
                 c.query_filter.c_str());
    return kNgNoSeries;
  }
  try {
    g = fleet_graph(series, c.graph);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "netgraph: bad regular expression: %s\n", e.what());
    return kNgUsage;
  }
  PresentOptions p = c.present;
  p.collapse_clients = false; // a node is already a process name on a host
  present(g, GroupBy::Comm, p);
  if (c.stats) {
    const GraphStats& s = g.stats;
    std::fprintf(stderr,
                 "netgraph: series %zu, connections out %llu (paired %llu, to outside %llu), "
                 "accepts from outside %llu, ambiguous %llu, hosts %zu, nodes %zu, edges %zu\n",
                 series.size(), (unsigned long long)s.connects, (unsigned long long)s.matched,
                 (unsigned long long)s.unmatched_connects, (unsigned long long)s.unmatched_accepts,
                 (unsigned long long)s.ambiguous, g.hosts.size(), g.nodes.size(), g.edges.size());
  }
  if (g.edges.empty())
    std::fprintf(stderr,
                 "netgraph: none of the %zu series is left after --no-loopback, "
                 "--include, --exclude and --min-count\n",
                 series.size());
  return std::nullopt;
}

namespace {

int write_output(const NetgraphConfig& c, const Graph& g);

} // namespace

int run_netgraph(const NetgraphConfig& c) {
  if (!c.prometheus.empty()) {
    Graph g;
    if (auto code = prometheus_graph(c, g))
      return *code;
    return write_output(c, g);
  }
  std::unique_ptr<GraphBuilder> builder;
  GraphOptions build = c.graph;
  build.min_count = 1; // applied by present(), after collapsing
  try {
    builder = std::make_unique<GraphBuilder>(build);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "netgraph: bad regular expression: %s\n", e.what());
    return kNgUsage;
  }
  uint64_t shown = 0, lines = 0, bad = 0, skipped = 0;
  finish_signal = 0;
  std::optional<FinishOnSignal> finish_on_signal;
  std::string names; // of the inputs, for "no connections found in ..."
  for (const std::string& in : c.inputs) {
    const std::string name = in == "-" ? "<stdin>" : in;
    names += (names.empty() ? "" : ", ") + name;
    if (finish_signal)
      continue; // asked to finish: the inputs left are not read
    // stdin is borrowed, a named file owned: closed on every way out of this turn.
    UniqueFd owned;
    if (in != "-")
      owned.reset(::open(in.c_str(), O_RDONLY | O_CLOEXEC));
    const int fd = in == "-" ? STDIN_FILENO : owned.get();
    if (fd < 0) {
      std::fprintf(stderr, "netgraph: cannot open %s: %s\n", in.c_str(), std::strerror(errno));
      return kNgInput;
    }
    if (c.finish_on_signal && !finish_on_signal && is_stream(fd))
      finish_on_signal.emplace();
    Feeder feed(*builder, name, host_of(in, c.host), c.strict, shown);
    std::string err;
    ReadStop stop;
    if (finish_on_signal)
      stop = finish_on_signal->stop();
    bool ok = read_lines(fd, kMaxLine, feed, err, finish_on_signal ? &stop : nullptr);
    owned.reset();
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
  finish_on_signal.reset(); // from here on, SIGINT and SIGTERM do what they always do
  if (finish_signal)
    std::fprintf(stderr, "netgraph: %s: drawing the %llu lines read so far\n",
                 finish_signal == SIGINT ? "interrupted" : "terminated",
                 static_cast<unsigned long long>(lines));
  if (bad > shown)
    std::fprintf(stderr,
                 "netgraph: %llu lines were not trace lines and were skipped (first %llu shown)\n",
                 static_cast<unsigned long long>(bad), static_cast<unsigned long long>(shown));
  Graph g = builder->finish();
  present(g, c.graph.group_by, c.present);
  g.weight = c.weight == "count"   ? Graph::Weight::Count
             : c.weight == "bytes" ? Graph::Weight::Bytes
                                   : Graph::Weight::None;
  if (g.edges.empty()) {
    if (g.stats.events == 0)
      std::fprintf(stderr,
                   "netgraph: no connections found in %s (netgraph reads what nettrace writes: "
                   "arrow or JSON lines)\n",
                   names.c_str());
    else
      std::fprintf(stderr,
                   "netgraph: none of the %llu connection ends in %s is left after "
                   "--no-loopback, --include, --exclude and --min-count\n",
                   static_cast<unsigned long long>(g.stats.events), names.c_str());
  }
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
  return write_output(c, g);
}

namespace {

int write_output(const NetgraphConfig& c, const Graph& g) {
  // Output: to stdout, or into a temporary beside the target renamed into
  // place, so a failure never leaves half a file behind. netgraph opens the
  // file itself (Graphviz would name the temporary in its own error).
  // A target that exists and is not a regular file (/dev/null, a FIFO, a
  // terminal) is written in place: renaming a file over it would replace the
  // device itself (as root, /dev/null became a regular file).
  std::string tmp;
  struct stat target {};
  const bool in_place = !c.output.empty() && ::stat(c.output.c_str(), &target) == 0 &&
                        !S_ISREG(target.st_mode) && !S_ISDIR(target.st_mode);
  if (!c.output.empty() && !in_place)
    tmp = c.output + ".tmp." + std::to_string(getpid());
  auto fail_out = [&](const std::string& why) {
    if (!tmp.empty())
      ::unlink(tmp.c_str());
    std::fprintf(stderr, "netgraph: cannot write %s: %s\n",
                 c.output.empty() ? "stdout" : c.output.c_str(), why.c_str());
    return kNgOutput;
  };
  // The temporary is owned (fd, then FILE*) until it is closed below, so an
  // early return or an exception from a renderer cannot leak it.
  UniqueFile file;
  if (!c.output.empty()) {
    UniqueFd fd(in_place ? ::open(c.output.c_str(), O_WRONLY | O_CLOEXEC)
                         : ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666));
    if (fd)
      file.reset(::fdopen(fd.get(), "w"));
    if (!file) {
      const int e = errno;
      fd.reset();
      const bool dir = e == ENOENT || e == ENOTDIR;
      return fail_out(std::string(std::strerror(e)) +
                      (dir ? " (the directory must exist; or -o - for stdout)"
                           : " (choose a writable directory; or -o - for stdout)"));
    }
    fd.release(); // the FILE* closes it now
  }
  FILE* f = file ? file.get() : stdout;
  errno = 0;
  bool ok;
  std::string why;
  if (c.format == "dot") {
    ok = write_dot(g, f);
  } else if (c.format == "json") {
    std::string j = to_json(g);
    ok = std::fwrite(j.data(), 1, j.size(), f) == j.size() && std::fflush(f) == 0;
  } else {
    ok = render(g, c.format, f, why);
  }
  const int saved = errno;
  if (file && std::fclose(file.release()) != 0)
    ok = false;
  if (!ok)
    return fail_out(!why.empty() ? why : std::strerror(saved ? saved : EIO));
  if (!tmp.empty() && std::rename(tmp.c_str(), c.output.c_str()) != 0)
    return fail_out(std::strerror(errno));
  return kNgOk;
}

} // namespace

} // namespace nt
