# BPF build: vmlinux.h -> <name>.bpf.o (clang) -> <name>.skel.h (bpftool) -> an
# INTERFACE target <name>_skel. Everything generated lives in the build tree.
find_program(NT_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(NT_BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

set(NT_BPF_GEN_DIR ${CMAKE_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${NT_BPF_GEN_DIR})

if(NT_VMLINUX_H)
  set(_nt_vmlinux_cmd ${CMAKE_COMMAND} -E copy ${NT_VMLINUX_H} ${NT_BPF_GEN_DIR}/vmlinux.h)
  set(_nt_vmlinux_dep ${NT_VMLINUX_H})
else()
  if(NOT EXISTS /sys/kernel/btf/vmlinux)
    message(FATAL_ERROR "No /sys/kernel/btf/vmlinux on this machine: the kernel lacks BTF. "
      "Build with -DNT_VMLINUX_H=/path/to/vmlinux.h generated on a kernel with CONFIG_DEBUG_INFO_BTF=y.")
  endif()
  set(_nt_vmlinux_cmd sh -c "${NT_BPFTOOL} btf dump file /sys/kernel/btf/vmlinux format c > ${NT_BPF_GEN_DIR}/vmlinux.h.tmp && mv ${NT_BPF_GEN_DIR}/vmlinux.h.tmp ${NT_BPF_GEN_DIR}/vmlinux.h")
  set(_nt_vmlinux_dep "")
endif()
add_custom_command(OUTPUT ${NT_BPF_GEN_DIR}/vmlinux.h
  COMMAND ${_nt_vmlinux_cmd}
  DEPENDS ${_nt_vmlinux_dep}
  COMMENT "Generating vmlinux.h"
  VERBATIM)
add_custom_target(nt_vmlinux_h DEPENDS ${NT_BPF_GEN_DIR}/vmlinux.h)

# A function, not a macro, so nothing leaks into or accumulates in the caller's scope.
function(nt_add_bpf_skeleton name source)
  get_filename_component(src_abs ${source} ABSOLUTE)
  get_filename_component(src_dir ${src_abs} DIRECTORY)
  file(GLOB bpf_headers ${src_dir}/*.h)
  set(obj ${NT_BPF_GEN_DIR}/${name}.bpf.o)
  set(skel ${NT_BPF_GEN_DIR}/${name}.skel.h)
  add_custom_command(OUTPUT ${obj}
    COMMAND ${NT_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall
            -I${NT_BPF_GEN_DIR} -I${src_dir} -c ${src_abs} -o ${obj}
    DEPENDS ${src_abs} ${bpf_headers}
    COMMENT "Compiling BPF ${name}"
    VERBATIM)
  add_custom_command(OUTPUT ${skel}
    COMMAND sh -c "${NT_BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}.tmp && mv ${skel}.tmp ${skel}"
    DEPENDS ${obj}
    COMMENT "Generating BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  # vmlinux.h is made by a top-level rule; a file from another directory cannot
  # be a custom-command dependency with Makefiles, so order by target instead.
  add_dependencies(${name}_skel_gen nt_vmlinux_h)
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${NT_BPF_GEN_DIR} ${src_dir})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
