// nettrace's --serve options (the server itself is src/serve/).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "serve/serve_config.h"

namespace nt {

// Declares --serve and its companions on nettrace's command line. The
// returned check runs after parsing: "" or the one-line reason.
std::function<std::string()> declare_serve_options(CLI::App& app, ServeConfig& c);

} // namespace nt
