#include "trace/identity.h"

#include <array>
#include <charconv>

namespace nt {
namespace {

template <typename T> bool whole_number(std::string_view s, T& out) {
  if (s.empty() || s.size() > 20)
    return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && end == s.data() + s.size();
}

bool is_hex_id(std::string_view s) {
  if (s.size() != 64)
    return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

// A pod UID as the kubelet writes it: hex digits and '-' (cgroupfs) or '_'
// (systemd, where '-' separates the slice's parents).
bool is_pod_uid(std::string_view s) {
  if (s.empty() || s.size() > 64)
    return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '-' || c == '_'))
      return false;
  return true;
}

bool strip_suffix(std::string_view& s, std::string_view suffix) {
  if (s.size() <= suffix.size() || !s.ends_with(suffix))
    return false;
  s.remove_suffix(suffix.size());
  return true;
}

// The runtimes' scope names: "<prefix><64 hex>.scope".
constexpr std::array kContainerScopes = {std::string_view("docker-"),
                                         std::string_view("cri-containerd-"),
                                         std::string_view("crio-"), std::string_view("libpod-")};

// The container id a component names, or "".
std::string_view container_of(std::string_view c) {
  if (is_hex_id(c))
    return c; // cgroupfs drivers: the bare id
  std::string_view s = c;
  if (!strip_suffix(s, ".scope"))
    return {};
  for (std::string_view prefix : kContainerScopes)
    if (s.starts_with(prefix) && is_hex_id(s.substr(prefix.size())))
      return s.substr(prefix.size());
  return {};
}

std::string_view qos_name(std::string_view word) {
  if (word == "burstable")
    return "burstable";
  if (word == "besteffort")
    return "besteffort";
  return {};
}

void set_pod(CgroupIdentity& out, std::string_view uid) {
  out.pod.assign(uid);
  for (char& ch : out.pod)
    if (ch == '_')
      ch = '-';
}

} // namespace

std::optional<ProcStat> parse_proc_stat(std::string_view stat) {
  const size_t close = stat.rfind(')');
  if (close == std::string_view::npos)
    return std::nullopt;
  std::string_view rest = stat.substr(close + 1);
  // Fields from 3 (state) on; ppid is 4, starttime 22.
  ProcStat out;
  int field = 2;
  bool got_ppid = false;
  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == ' ')
      rest.remove_prefix(1);
    if (rest.empty())
      break;
    size_t end = rest.find_first_of(" \n");
    if (end == std::string_view::npos)
      end = rest.size();
    const std::string_view word = rest.substr(0, end);
    rest.remove_prefix(end);
    if (!rest.empty() && rest.front() == '\n')
      rest = {};
    ++field;
    if (field == 4) {
      if (!whole_number(word, out.ppid))
        return std::nullopt;
      got_ppid = true;
    } else if (field == 22) {
      if (!got_ppid || !whole_number(word, out.start_ticks))
        return std::nullopt;
      return out;
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> parse_proc_cgroup(std::string_view text) {
  size_t at = 0;
  for (;;) {
    if (text.compare(at, 3, "0::") == 0) {
      std::string_view path = text.substr(at + 3);
      if (path.ends_with('\n'))
        path.remove_suffix(1);
      if (path.empty() || path.front() != '/')
        return std::nullopt;
      return path;
    }
    const size_t nl = text.find('\n', at);
    if (nl == std::string_view::npos)
      return std::nullopt;
    at = nl + 1;
  }
}

void cmdline_text(std::string_view raw, size_t max_bytes, std::string& out) {
  if (raw.size() > max_bytes)
    raw = raw.substr(0, max_bytes);
  while (!raw.empty() && raw.back() == '\0')
    raw.remove_suffix(1);
  out.assign(raw);
  for (char& c : out)
    if (c == '\0')
      c = ' ';
}

CgroupIdentity parse_cgroup_path(std::string_view path) {
  CgroupIdentity out;
  std::string_view scope; // deepest non-container scope
  bool in_kubepods = false;
  while (!path.empty()) {
    const size_t slash = path.find('/');
    const std::string_view c = path.substr(0, slash);
    path.remove_prefix(slash == std::string_view::npos ? path.size() : slash + 1);
    if (c.empty())
      continue;
    if (const std::string_view id = container_of(c); !id.empty()) {
      out.container.assign(id);
      continue;
    }
    std::string_view s = c;
    if (strip_suffix(s, ".service")) {
      out.unit.assign(c);
      continue;
    }
    if (strip_suffix(s, ".scope")) {
      scope = c;
      continue;
    }
    // Kubernetes, systemd driver: kubepods[-<qos>][-pod<uid>].slice.
    if (strip_suffix(s, ".slice") && (s == "kubepods" || s.starts_with("kubepods-"))) {
      in_kubepods = true;
      s.remove_prefix(8);
      if (s.starts_with('-'))
        s.remove_prefix(1);
      const size_t dash = s.find('-');
      const std::string_view first = s.substr(0, dash);
      if (const std::string_view q = qos_name(first); !q.empty()) {
        out.pod_qos.assign(q);
        s.remove_prefix(dash == std::string_view::npos ? s.size() : dash + 1);
      }
      if (s.starts_with("pod") && is_pod_uid(s.substr(3))) {
        set_pod(out, s.substr(3));
        if (out.pod_qos.empty())
          out.pod_qos = "guaranteed";
      }
      continue;
    }
    // Kubernetes, cgroupfs driver: /kubepods[/<qos>]/pod<uid>/<id>.
    if (c == "kubepods") {
      in_kubepods = true;
    } else if (in_kubepods && !qos_name(c).empty()) {
      out.pod_qos.assign(qos_name(c));
    } else if (in_kubepods && c.starts_with("pod") && is_pod_uid(c.substr(3))) {
      set_pod(out, c.substr(3));
      if (out.pod_qos.empty())
        out.pod_qos = "guaranteed";
    }
  }
  if (out.unit.empty())
    out.unit.assign(scope);
  return out;
}

} // namespace nt
