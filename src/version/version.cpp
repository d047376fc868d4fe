#include "version/version.h"

#include "nt_version_generated.h"

namespace nt {

std::string version_text() {
  std::string v = NT_VERSION;
  std::string_view git = NT_GIT_DESCRIBE;
  if (!git.empty())
    v += " (git " + std::string(git) + ")";
  return v;
}

std::string version_line(std::string_view program) {
  return std::string(program) + " " + version_text();
}

} // namespace nt
