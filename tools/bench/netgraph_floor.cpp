// netgraph_floor: the least a netgraph-like reader could spend on an arrow
// trace on this machine, stage by stage (issue 11's 1 GB/s target).
//
//   netgraph_floor FILE [--rounds N]
//
// It is not netgraph and checks nothing: every step is the cheapest form of
// one of netgraph's steps, and each stage adds one step to the one before,
// over the whole file, best of N rounds (default 5) of process CPU time
// (user + system: read()'s copy counts):
//
//   read     read() the file 64 KiB at a time (netgraph's read size)
//   lines    + each line's end, found from the line's start 64 bytes at a look
//   fields   + the arrow and the '|' of each line, from the same kind of look
//   hashes   + one hash of each end's text ("ip:port") and of the process text
//   pairing  + one waiting-end map keyed by the two ends' hashes (the first
//              end of a connection goes in, the second finds and removes it)
//              and one counter per edge, keyed by the two process hashes
//
// What the last stage leaves out of netgraph's work: reading addresses and
// ports as numbers (so "::ffff:10.0.0.1" and "10.0.0.1", or two spellings of
// one IPv6 address, would not pair), rejecting malformed lines with their
// line numbers, host and network-namespace scoping of loopback ends, the
// node table and its names and addresses, more than one waiting end per key,
// markers and JSON lines, and any output. So netgraph cannot be faster than
// this; the gap between the stages says where the time of the job itself
// goes. Prints a Markdown table.
#include <absl/container/flat_hash_map.h>
#include <emmintrin.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr size_t kRead = 64 * 1024;
constexpr size_t kPad = 64; // a look of 64 bytes may pass the read's end

enum Stage { Read, Lines, Fields, Hashes, Pairing };
const char* const kStageNames[] = {
    "read: read() 64 KiB at a time",
    "lines: + each line's end (64 bytes at a look)",
    "fields: + the arrow and the '|' (64 bytes at a look)",
    "hashes: + a hash of each end's text and of the process text",
    "pairing: + one waiting-end map and one edge counter map (abseil)",
};

// Bit i set where p[i] == c, for the 64 bytes at p (SSE2: the build's baseline).
inline uint64_t match64(const char* p, char c) {
  const __m128i k = _mm_set1_epi8(c);
  uint64_t m = 0;
  for (int i = 0; i < 4; ++i) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
    m |= static_cast<uint64_t>(static_cast<uint16_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, k))))
         << (16 * i);
  }
  return m;
}

// One 64x64->128-bit multiplication folded: the mixing step of a fast hash.
inline uint64_t mix(uint64_t a, uint64_t b) {
  __uint128_t m = static_cast<__uint128_t>(a ^ 0x9E3779B97F4A7C15ull) * (b ^ 0xC2B2AE3D27D4EB4Full);
  return static_cast<uint64_t>(m) ^ static_cast<uint64_t>(m >> 64);
}

// Reads up to 8 bytes at p, keeping n of them (the buffer is padded).
inline uint64_t word(const char* p, size_t n) {
  uint64_t v;
  memcpy(&v, p, 8);
  return n >= 8 ? v : v & ((uint64_t{1} << (n * 8)) - 1);
}

inline uint64_t hash_text(const char* p, size_t n) {
  uint64_t h = n;
  for (; n > 16; p += 16, n -= 16)
    h = mix(h ^ word(p, 8), word(p + 8, 8));
  return mix(h ^ word(p, n > 8 ? 8 : n), n > 8 ? word(p + 8, n - 8) : 0);
}

struct Result {
  uint64_t lines = 0, sink = 0, paired = 0, edges = 0;
};

Result run(const char* path, Stage stage) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    perror(path);
    exit(2);
  }
  std::vector<char> buf(2 * kRead + kPad);
  absl::flat_hash_map<uint64_t, uint64_t> waiting; // ends' key -> process hash | side
  absl::flat_hash_map<uint64_t, uint64_t> edges;   // (client, server) process hashes -> count
  Result r;
  size_t carry = 0;
  for (;;) {
    ssize_t n = read(fd, buf.data() + carry, kRead);
    if (n <= 0)
      break;
    if (stage == Read) {
      r.sink += static_cast<unsigned char>(buf[carry]);
      continue;
    }
    char *p = buf.data(), *end = p + carry + n;
    memset(end, 0, kPad);
    for (;;) {
      uint64_t nl = match64(p, '\n');
      char* eol;
      if (nl != 0) {
        eol = p + __builtin_ctzll(nl);
      } else {
        char* from = end - p > 64 ? p + 64 : end;
        eol = static_cast<char*>(memchr(from, '\n', end - from));
      }
      if (eol == nullptr || eol >= end)
        break;
      size_t len = eol - p;
      ++r.lines;
      if (stage == Lines) {
        r.sink += len;
        p = eol + 1;
        continue;
      }
      uint64_t in_line = len >= 64 ? ~uint64_t{0} : (uint64_t{1} << len) - 1;
      uint64_t bar = match64(p, '|') & in_line, lt = match64(p, '<') & in_line,
               gt = match64(p, '>') & in_line;
      if (bar == 0 || (lt | gt) == 0) { // not a connection line
        p = eol + 1;
        continue;
      }
      size_t b = __builtin_ctzll(bar);
      bool connect = lt != 0; // "server<-client" (connect) or "client->server" (accept)
      size_t a = connect ? __builtin_ctzll(lt) : __builtin_ctzll(gt) - 1;
      if (stage == Fields) {
        r.sink += a + b + connect;
        p = eol + 1;
        continue;
      }
      uint64_t left = hash_text(p, a), right = hash_text(p + a + 2, b - a - 2);
      uint64_t proc = hash_text(p + b + 1, len - b - 1) & ~uint64_t{1};
      if (stage == Hashes) {
        r.sink += left ^ right ^ proc;
        p = eol + 1;
        continue;
      }
      uint64_t client = connect ? right : left, server = connect ? left : right;
      auto [w, inserted] = waiting.try_emplace(mix(client, server), proc | connect);
      if (!inserted && (w->second & 1) != connect) {
        uint64_t peer = w->second & ~uint64_t{1};
        waiting.erase(w);
        ++edges[mix(connect ? proc : peer, connect ? peer : proc)];
        ++r.paired;
      }
      p = eol + 1;
    }
    carry = end - p;
    if (carry > kRead)
      carry = 0; // a line longer than a read: not this trace's kind
    memmove(buf.data(), p, carry);
  }
  close(fd);
  r.edges = edges.size();
  return r;
}

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 2 || (argc == 4 && std::string(argv[2]) != "--rounds") || (argc != 2 && argc != 4)) {
    fprintf(stderr, "usage: netgraph_floor FILE [--rounds N]\n");
    return 64;
  }
  int rounds = argc == 4 ? atoi(argv[3]) : 5;
  if (rounds < 1)
    rounds = 1;
  off_t size = 0;
  {
    int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      perror(argv[1]);
      return 2;
    }
    size = lseek(fd, 0, SEEK_END);
    close(fd);
  }
  printf("| stage | CPU seconds (best of %d) | GB/s | ns a line |\n|---|---:|---:|---:|\n", rounds);
  Result last;
  for (int s = Read; s <= Pairing; ++s) {
    double best = 1e9;
    for (int i = 0; i < rounds; ++i) {
      double t0 = cpu_seconds();
      last = run(argv[1], static_cast<Stage>(s));
      double t = cpu_seconds() - t0;
      if (t < best)
        best = t;
    }
    printf("| %s | %.4f | %.2f | %s |\n", kStageNames[s], best, size / best / 1e9,
           s == Read ? "-"
                     : std::to_string(static_cast<long>(best * 1e9 / last.lines + 0.5)).c_str());
  }
  printf("\n%lu lines, %lu pairs, %lu edges (by process text)\n",
         static_cast<unsigned long>(last.lines), static_cast<unsigned long>(last.paired),
         static_cast<unsigned long>(last.edges));
}
