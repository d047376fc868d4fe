// NAT-aware records (issue 16, nettrace --nat): a Source that wraps the live
// one (after the snapshot) and, for every connection end (connect, accept,
// existing), asks the kernel's connection tracking over ctnetlink whether the
// connection was translated, and if so sets the record's nat_remote and
// nat_local (record.h): the connection as the other end sees it. The close
// (or open-at-exit) record of a translated connection gets the same fields.
//
// Off the BPF hot path: the lookups run in user space, in the run loop, one
// netlink request and answer each (bounded by a receive timeout). Each
// network namespace has its own conntrack table, so a lookup asks the
// socket's own namespace (DNAT in its OUTPUT path: a host process reaching a
// ClusterIP, a published port reached from the host) and then the host's
// namespace, nettrace's own (the one that routes for pods and containers:
// run nettrace there, as its DaemonSet does with hostNetwork). A namespace is
// entered once, from a short-lived thread (setns affects only that thread),
// to open a netlink socket there; the socket stays bound to it and is kept,
// per namespace inode, for at most kMaxNamespaces namespaces. Lookups take at
// most half of each second; past it ends go out unannotated. A lookup that
// cannot be made (or is skipped) is counted, with its reason, never guessed.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "tracer/pipeline.h"

namespace nt {

// Whether ctnetlink can be asked without making the kernel load a module
// (only looking must never load conntrack). "" when it can; otherwise the
// one line nettrace says. `root` prefixes the paths looked at (tests).
std::string conntrack_unavailable_reason(const std::string& root = "");

// One conntrack entry's two tuples, as the kernel keeps them: the original
// direction (as the first packet left its sender) and the reply direction
// (as the answers leave the responder).
struct ConntrackTuples {
  Endpoint orig_src, orig_dst, reply_src, reply_dst;
};

// What an entry says about the connection end `local` -> `remote` (a socket's
// own view): the peer's own address and this end as the peer sees it, each
// only where it differs from the socket's view (family 0 otherwise). False
// when the entry is not this connection's (neither direction matches).
bool translation_of(const ConntrackTuples& e, const Endpoint& local, const Endpoint& remote,
                    Endpoint& nat_remote, Endpoint& nat_local);

struct NatStats {
  uint64_t lookups = 0;    // connection ends looked up
  uint64_t translated = 0; // found translated
  uint64_t plain = 0;      // tracked, not translated
  uint64_t untracked = 0;  // no conntrack entry in either namespace
  uint64_t failed = 0;     // could not be made (reasons below)
  uint64_t elapsed_ns = 0; // user-space time spent looking up (the cost of --nat)
  std::map<std::string, uint64_t> why_failed; // reason -> count
};

class ConntrackTables; // the per-namespace netlink sockets (nat_source.cpp)

class NatSource final : public Source {
public:
  // `inner` must outlive this. `say` gets the one line when conntrack cannot
  // be asked. Opens the host namespace's socket now (before --user drops
  // the privileges that entering a namespace needs).
  NatSource(Source& inner, std::function<void(const std::string&)> say);
  ~NatSource() override;
  int fd() const override { return inner_.fd(); }
  void drain(const RecordCallback& cb) override;
  bool finished() const override { return inner_.finished(); }
  void finish(const RecordCallback& cb) override;

  // Looks `r` up and sets its nat_* fields when translated.
  void annotate(Record& r);
  const NatStats& stats() const { return stats_; }
  // The exit summary's line(s), "" when nothing is worth saying.
  std::string summary() const;

private:
  void pass(const Record& r, const RecordCallback& cb);

  Source& inner_;
  // Translated connections still open: their close carries the translation.
  absl::flat_hash_map<ConnectionKey, std::pair<Endpoint, Endpoint>> translated_;
  std::unique_ptr<ConntrackTables> tables_; // null: conntrack cannot be asked
  NatStats stats_;
  Record copy_;
  uint64_t window_start_ns_ = 0, window_spent_ns_ = 0; // the time budget (nat_source.cpp)
};

} // namespace nt
