// The version both binaries print for --version: CMake's project version, plus
// `git describe --always --dirty` when the build came from a git checkout. The
// numbers come from a header generated into the build tree at build time
// (cmake/NtVersion.cmake), so a new commit changes the text without a
// reconfigure and nothing generated lands in the source tree.
#pragma once

#include <string>
#include <string_view>

namespace nt {

// "0.1.0", or "0.1.0 (git bd6607c-dirty)" when built from a checkout.
std::string version_text();

// "<program> <version_text()>": the first line help2man and users expect.
std::string version_line(std::string_view program);

} // namespace nt
