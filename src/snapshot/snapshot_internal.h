// What the two ways of taking the snapshot (snapshot.cpp: sock_diag + /proc;
// snapshot_iter.cpp: a BPF iterator) hand to the common end, which picks the
// owners and emits the records. Internal to the library.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>

#include "snapshot/snapshot.h"
#include "snapshot/snapshot_parse.h"

namespace nt::snap {

// One wanted ESTABLISHED socket and its holders so far.
struct Sock {
  DiagSocket s;
  RecordType type;
  uint32_t netns;
  Holders holders;
};

struct ProcInfo {
  std::string comm;
  uint32_t uid = 0;
  uint64_t cgroup_id = 0;
  uint64_t start_ns = 0; // process start, CLOCK_BOOTTIME ns (Record::start_ns)
  uint32_t ppid = 0;
};

struct Collected {
  // A deque: it grows by blocks, never by copying everything (a vector's
  // doubling would briefly need twice the memory).
  std::deque<Sock> socks;                        // every one passes the socket filters
  std::unordered_map<uint32_t, ProcInfo> owners; // the processes that passed the process filters
};

// The BPF iterator's pass. False, with the reason in `why`, when the program
// does not load or attach here (kernel older than 5.11, no privileges): the
// caller then takes the /proc path. `loaded`: the program loaded ahead
// (load_snapshot_iterator), or null to load it here.
bool collect_by_iterator(const SocketFilter& sockets, const ProcessFilter& processes,
                         Collected& out, SnapshotStats& stats, std::string& why,
                         SnapshotIterator* loaded = nullptr);

} // namespace nt::snap
