// nettrace's exit codes and the error type that carries one. Fatal user errors
// are thrown as TracerError and caught only near main, which prints the one
// line and exits with the code.
#pragma once

#include <stdexcept>
#include <string>

namespace nt {

enum ExitCode : int {
  kExitOk = 0,
  kExitUsage = 1,       // bad option or value
  kExitNoPrivilege = 2, // not root / no CAP_BPF+CAP_PERFMON
  kExitNoBtf = 3,       // the kernel has no BTF (/sys/kernel/btf/vmlinux)
  kExitNoBackend = 4,   // the forced backend, or every backend, failed to load or attach
  kExitRuntime = 5,     // anything else at run time (output error, poll failure)
  kExitServe = 6,       // --serve cannot listen on its address (in use, not allowed)
};

class TracerError : public std::runtime_error {
public:
  TracerError(int exit_code, const std::string& message)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

private:
  int exit_code_;
};

} // namespace nt
