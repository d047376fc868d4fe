// Pieces every backend file shares: the RAII owner for a bpftool skeleton and
// the code that copies BpfConfig into its rodata before load. A template,
// because each skeleton is its own C type with the same member names.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>

#include "tracer/backend.h"

namespace nt {

template <typename Skel, void (*Destroy)(Skel*)> struct SkelDeleter {
  void operator()(Skel* s) const noexcept {
    if (s)
      Destroy(s);
  }
};

// The whole config in one copy: every backend's programs declare the same
// `const volatile struct nt_config nt_cfg` (bpf/common.bpf.h).
template <typename Skel> void apply_config(Skel* skel, const BpfConfig& c) {
  auto* cfg = &skel->rodata->nt_cfg;
  static_assert(sizeof *cfg == sizeof c.kernel, "the skeleton's nt_config is ours");
  std::memcpy(const_cast<std::remove_cv_t<std::remove_pointer_t<decltype(cfg)>>*>(cfg), &c.kernel,
              sizeof c.kernel);
}

// One drop counter (enum nt_drop_reason), summed over CPUs.
template <typename Skel> uint64_t sum_drops(const Skel* skel, unsigned reason) {
  uint64_t total = 0;
  for (const auto& per_cpu : skel->bss->drops)
    total += __atomic_load_n(&per_cpu[reason], __ATOMIC_RELAXED);
  return total;
}

template <typename Skel> bool sum_recursion_misses(const Skel* skel, uint64_t& total) {
  total = 0;
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) {
    int fd = bpf_program__fd(prog);
    if (fd < 0)
      continue; // not loaded (autoload off)
    bpf_prog_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
      return false;
    total += info.recursion_misses;
  }
  return true;
}

// The owner map's real size: the logical capacity and spare nodes for the
// common LRU's per-CPU free lists (see `owners` in bpf/common.bpf.h), so that
// it never evicts before the capacity is reached and the kernel's count of
// evictions is exact.
// Without closes no program touches it: one node per CPU, so that it costs
// no kernel memory (prealloc'd, it would be ~10 MB).
inline uint32_t owners_map_size(const BpfConfig& c) {
  const int cpus = libbpf_num_possible_cpus();
  const uint32_t n = uint32_t(cpus > 0 ? cpus : 1);
  return c.kernel.emit_close ? c.kernel.owners_max + 256u * n : n;
}

inline std::string errno_text(int err) {
  if (err < 0)
    err = -err;
  return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")";
}

// Generic open/configure/load/attach sequence for one skeleton type. Returns
// null with a reason on failure; the skeleton is freed by its owner either way.
template <typename Skel, Skel* (*Open)(), int (*Load)(Skel*), int (*Attach)(Skel*),
          void (*Destroy)(Skel*)>
class SkeletonBackend : public AttachedBackend {
public:
  using Owner = std::unique_ptr<Skel, SkelDeleter<Skel, Destroy>>;

  static std::unique_ptr<AttachedBackend> create(const BpfConfig& c, AttachFailure& why) {
    auto fail = [&why](const char* stage, int err) {
      why.stage = stage;
      why.err = err < 0 ? -err : err;
      return nullptr;
    };
    Owner skel(Open());
    if (!skel)
      return fail("open", errno);
    apply_config(skel.get(), c);
    if (int err = bpf_map__set_max_entries(skel->maps.events, c.ringbuf_size))
      return fail("ring buffer size", err);
    if (int err = bpf_map__set_max_entries(skel->maps.owners, owners_map_size(c)))
      return fail("owner map size", err);
    if (int err = Load(skel.get()))
      return fail("load", err);
    if (int err = Attach(skel.get()))
      return fail("attach", err);
    return std::unique_ptr<AttachedBackend>(new SkeletonBackend(std::move(skel)));
  }

  int ringbuf_fd() const override { return bpf_map__fd(skel_->maps.events); }
  uint64_t dropped() const override { return sum_drops(skel_.get(), NT_DROP_RINGBUF_FULL); }
  uint64_t evicted() const override { return sum_drops(skel_.get(), NT_DROP_OWNER_EVICTED); }
  int owners_fd() const override { return bpf_map__fd(skel_->maps.owners); }
  bool missed(uint64_t& total) const override { return sum_recursion_misses(skel_.get(), total); }

private:
  explicit SkeletonBackend(Owner skel) : skel_(std::move(skel)) {}
  Owner skel_;
};

} // namespace nt
