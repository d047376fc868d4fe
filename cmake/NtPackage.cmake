# The Debian package (cpack -G DEB, or tools/package.sh): the binaries, man
# pages and bash completion that `cmake --install` already installs, plus the
# systemd unit and the examples. CPack rather than debian/ + dpkg-buildpackage:
# the install rules are the ones the project already has and tests, and the
# package needs no maintainer scripts (no user to create: the unit runs
# `--user nobody`; no service enabled behind the admin's back).
include(GNUInstallDirs)

# The unit: /usr/lib/systemd/system in the package. On Debian 12 (merged /usr)
# that is the same directory as /lib/systemd/system, and the /usr path is
# the one Debian's merged-/usr transition (DEP 17) asks packages to ship, so
# dpkg never sees one file under two names. Relative, so that
# `cmake --install --prefix ~/x` stays inside ~/x.
install(FILES ${CMAKE_SOURCE_DIR}/examples/systemd/nettrace.service
        DESTINATION lib/systemd/system)
# Examples for the admin to copy from: the unit, the Kubernetes manifests,
# sample traces and graphs, the library example's source.
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/systemd ${CMAKE_SOURCE_DIR}/examples/kubernetes
                  ${CMAKE_SOURCE_DIR}/examples/traces ${CMAKE_SOURCE_DIR}/examples/graphs
                  ${CMAKE_SOURCE_DIR}/examples/library
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/nettrace/examples
        PATTERN CMakeLists.txt EXCLUDE)
install(FILES ${CMAKE_SOURCE_DIR}/LICENSE ${CMAKE_SOURCE_DIR}/README.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/nettrace)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME nettrace)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "nettrace maintainers <nettrace@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "eBPF TCP connect/accept tracer and process graph drawer")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "nettrace traces TCP connects and accepts with eBPF (CO-RE, BTF) and can run as a\n\
service that serves the host's connection map for Prometheus; netgraph pairs\n\
connection ends from traces and draws the process graph with Graphviz.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
# Depends from the binaries' own shared libraries (libbpf1, libgvc6, libre2,
# ...), as dpkg-shlibdeps finds them: never a hand-kept list that drifts.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The one library no binary links: netgraph loads libcurl when --prometheus
# asks (src/graph/fleet.cpp says why). CPack adds the shlibdeps list to this.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libcurl4")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_STRIP_FILES ON)
# Only the project's own files: CMAKE_INSTALL_PREFIX must not leak into paths.
set(CPACK_SET_DESTDIR OFF)
# cpack (and make install) would otherwise build every target first, tests and
# fuzzers included; tools/package.sh builds what the package holds.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
include(CPack)
