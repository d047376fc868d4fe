// The BPF helpers the backends' objects call, read from the objects themselves
// (the ELF bytes each skeleton embeds): explain_failure must know when each
// appeared in Linux, so that a kernel without one is explained in words.
#include <elf.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <set>
#include <string>

#include "tracer/backend.h"
#include "tracer/tracer.h"

// After tracer/backend.h: the skeletons name struct nt_config, defined there.
#include "fentry.skel.h"
#include "kprobe.skel.h"
#include "tracepoint.skel.h"

namespace {

// Helper ids of every call instruction in the object's executable sections:
// opcode BPF_JMP|BPF_CALL (0x85) with source register 0 (1 is a call to a
// BPF function, 2 a kfunc). Instructions are 8 bytes: opcode, registers
// (dst low nibble, src high), 16-bit offset, 32-bit immediate (the id).
std::set<int> helpers_called(const void* elf, size_t size) {
  std::set<int> ids;
  const auto* base = static_cast<const unsigned char*>(elf);
  Elf64_Ehdr eh;
  if (size < sizeof(eh))
    return ids;
  std::memcpy(&eh, base, sizeof(eh));
  for (unsigned i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh;
    const size_t at = eh.e_shoff + size_t{i} * eh.e_shentsize;
    if (at + sizeof(sh) > size)
      break;
    std::memcpy(&sh, base + at, sizeof(sh));
    if (sh.sh_type != SHT_PROGBITS || !(sh.sh_flags & SHF_EXECINSTR) ||
        sh.sh_offset + sh.sh_size > size)
      continue;
    for (size_t off = 0; off + 8 <= sh.sh_size; off += 8) {
      const unsigned char* insn = base + sh.sh_offset + off;
      int32_t imm;
      std::memcpy(&imm, insn + 4, sizeof(imm));
      if (insn[0] == 0x85 && (insn[1] >> 4) == 0)
        ids.insert(imm);
    }
  }
  return ids;
}

void expect_all_known(const char* backend, const void* elf, size_t size) {
  const std::set<int> ids = helpers_called(elf, size);
  // bpf_ringbuf_output: every backend hands its events over with it, so an
  // empty or wrong parse cannot pass.
  EXPECT_TRUE(ids.count(130)) << backend << ": no call to bpf_ringbuf_output found";
  for (int id : ids)
    EXPECT_NE(nt::bpf_helper_name(id), nullptr)
        << "the " << backend << " backend calls BPF helper #" << id
        << ", which explain_failure (src/tracer/backend.cpp kHelpers) does not know";
}

TEST(Explain, KnowsTheReleaseOfEveryHelperTheBackendsCall) {
  size_t size = 0;
  const void* elf = fentry__elf_bytes(&size);
  expect_all_known("fentry", elf, size);
  elf = tracepoint__elf_bytes(&size);
  expect_all_known("tracepoint", elf, size);
  elf = kprobe__elf_bytes(&size);
  expect_all_known("kprobe", elf, size);
  // 5.10's tracepoint object still names the BTF task helper, in the branch
  // a kernel without it drops at load.
  EXPECT_STREQ(nt::bpf_helper_name(158), "bpf_get_current_task_btf");
}

// What libbpf does with a failed program: its whole verifier log in one
// message, the refused helper named at the end.
void libbpf_says(const char* fmt, ...) {
  const libbpf_print_fn_t print = libbpf_set_print(nullptr);
  libbpf_set_print(print);
  va_list args;
  va_start(args, fmt);
  print(LIBBPF_WARN, fmt, args);
  va_end(args);
}

std::string long_verifier_log() {
  std::string log = "-- BEGIN PROG LOAD LOG --\n";
  for (int i = 0; i < 100; ++i)
    log += std::to_string(i) + ": (79) r6 = *(u64 *)(r1 +16)\n";
  return log + "171: (85) call bpf_probe_read#4\nunknown func bpf_probe_read#4\n-- END PROG LOAD "
               "LOG --\n";
}

// Under lockdown=confidentiality the programs of every backend are refused
// after a few hundred instructions: the explanation needs the log's end.
TEST(Explain, ReadsTheWholeVerifierLog) {
  nt::route_libbpf_log(false);
  const nt::BackendInfo fake{
      "fake", 9, "",
      [](const nt::BpfConfig&, nt::AttachFailure& why) -> std::unique_ptr<nt::AttachedBackend> {
        libbpf_says("libbpf: prog 'x': BPF program load failed\n%s", long_verifier_log().c_str());
        why = {"load", EINVAL};
        return nullptr;
      }};
  nt::AttachFailure why;
  std::string log;
  EXPECT_EQ(nt::try_backend(fake, nt::BpfConfig{}, why, log), nullptr);
  EXPECT_EQ(log, "libbpf: prog 'x': BPF program load failed\n" + long_verifier_log());
  nt::KernelFacts locked;
  locked.lockdown = "confidentiality";
  EXPECT_EQ(nt::explain_failure("fake", why, locked, log),
            "the kernel's lockdown (confidentiality) forbids the BPF helper bpf_probe_read, with "
            "which the fake backend reads kernel memory");
}

} // namespace
