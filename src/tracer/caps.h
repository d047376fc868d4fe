// An owner for libcap's cap_t: cap_free when it goes, on every path.
#pragma once

#include <sys/capability.h>

#include <memory>
#include <type_traits>

namespace nt {

struct CapFree {
  void operator()(cap_t caps) const noexcept { cap_free(caps); }
};
using UniqueCap = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

} // namespace nt
