#!/usr/bin/env bash
# What a packager and a user get beyond the binaries: --version in the
# "PROGRAM VERSION" form (CMake's version, plus git describe in a checkout,
# generated into the build tree only); man pages built by help2man that man
# renders without a warning; `cmake --install` placing programs, pages and
# bash completion; and the completion completing options and their words.
set -euo pipefail
SRC=${1:?usage: $0 SOURCE_DIR BUILD_DIR PROJECT_VERSION}
BUILD=${2:?}
VERSION=${3:?}
T=$(mktemp -d /tmp/nt-install.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "PASS: $*"; }

# --version: one line, "nettrace 0.1.0" or "nettrace 0.1.0 (git <describe>)".
re_version=${VERSION//./\\.}
for prog in nettrace netgraph; do
  out=$("$BUILD/bin/$prog" --version) || fail "$prog --version exited $?"
  [[ $(wc -l <<<"$out") -eq 1 ]] || fail "$prog --version: want one line, got: $out"
  [[ $out =~ ^$prog\ $re_version(\ \(git\ [0-9a-zA-Z._-]+\))?$ ]] || fail "$prog --version: '$out' is not '$prog $VERSION [(git ...)]'"
  if [[ -e $SRC/.git ]] && command -v git >/dev/null; then
    # A checkout's build names a commit of this repository (the build may
    # predate the newest commit, so not necessarily HEAD).
    [[ $out == *"(git "* ]] || fail "$prog --version: '$out' built from a checkout carries no git describe"
    desc=${out#*(git }; desc=${desc%)}; desc=${desc%-dirty}
    git -C "$SRC" cat-file -e "${desc##*-g}^{commit}" 2>/dev/null || fail "$prog --version: '$desc' names no commit of $SRC"
  elif [[ ! -e $SRC/.git ]]; then
    [[ $out == "$prog $VERSION" ]] || fail "$prog --version: a build without .git should say just '$prog $VERSION', not '$out'"
  fi
  pass "$prog --version: $out"
done
# The version text is generated at build time into the build tree, never the
# source tree; without .git (a tarball) it is the project version alone.
# Any build tree inside the source (build/, build-asan/ ...) holds its own copy:
# a copy counts as in the source tree only with no CMakeCache.txt above it.
while IFS= read -r hdr; do
  d=$(dirname "$hdr")
  while [[ $d != "$SRC" && $d != / && ! -e $d/CMakeCache.txt ]]; do d=$(dirname "$d"); done
  [[ -e $d/CMakeCache.txt ]] || fail "the version header was written into the source tree: $hdr"
done < <(find "$SRC" -name nt_version_generated.h)
mkdir "$T/tarball"
cmake -DNT_SOURCE_DIR="$T/tarball" -DNT_VERSION=9.8.7 -DNT_OUTPUT="$T/v.h" -P "$SRC/cmake/NtVersion.cmake"
grep -qx '#define NT_VERSION "9.8.7"' "$T/v.h" && grep -qx '#define NT_GIT_DESCRIBE ""' "$T/v.h" || fail "a tree without .git: $(cat "$T/v.h")"
pass "version header: build tree only; a tarball build says just the version"

# Man pages: generated, rendered by man without warnings, with the sections
# help2man alone would not give.
for prog in nettrace netgraph; do
  page=$BUILD/man/$prog.1
  [[ -s $page ]] || fail "$page was not generated"
  MANWIDTH=80 LC_ALL=C.UTF-8 man --warnings -l "$page" >"$T/$prog.txt" 2>"$T/$prog.warn" || fail "man -l $page failed: $(cat "$T/$prog.warn")"
  [[ ! -s "$T/$prog.warn" ]] || fail "man -l $page warns: $(cat "$T/$prog.warn")"
  grep -q "^NAME" "$T/$prog.txt" && grep -q "^OPTIONS" "$T/$prog.txt" && grep -q "^SEE ALSO" "$T/$prog.txt" || fail "$prog.1 lacks NAME, OPTIONS or SEE ALSO: $(cat "$T/$prog.txt")"
  grep -qE "^ +$prog +- " "$T/$prog.txt" || fail "$prog.1: NAME does not say what $prog is"
  grep -q -- "--version" "$T/$prog.txt" || fail "$prog.1 does not list --version"
  grep -q "$VERSION" "$T/$prog.txt" || fail "$prog.1 does not carry the version $VERSION"
done
grep -q '^EXIT STATUS' "$T/nettrace.txt" || fail "nettrace.1 has no EXIT STATUS section"
awk '/^EXIT STATUS/ { s = 1 } s && /^ +5 +runtime error/ { ok = 1 } END { exit !ok }' "$T/nettrace.txt" || fail "nettrace.1's EXIT STATUS does not list the codes: $(cat "$T/nettrace.txt")"
awk '/^EXAMPLES/ { s = 1; next } s && /^ +sudo nettrace --info$/ { ok = 1 } END { exit !ok }' "$T/nettrace.txt" || fail "nettrace.1's EXAMPLES are not one per line: $(sed -n '/^EXAMPLES/,$p' "$T/nettrace.txt")"
pass "man pages: nettrace.1 and netgraph.1 render without warnings; EXIT STATUS and EXAMPLES in nettrace.1"

# cmake --install into a fresh prefix.
cmake --install "$BUILD" --prefix "$T/prefix" >"$T/install.log" || fail "cmake --install failed: $(cat "$T/install.log")"
for f in bin/nettrace bin/netgraph share/man/man1/nettrace.1 share/man/man1/netgraph.1 \
  share/bash-completion/completions/nettrace share/bash-completion/completions/netgraph; do
  [[ -s "$T/prefix/$f" ]] || fail "cmake --install did not install $f: $(cat "$T/install.log")"
done
[[ -x "$T/prefix/bin/nettrace" && -x "$T/prefix/bin/netgraph" ]] || fail "installed programs are not executable"
pass "cmake --install: programs, man pages and bash completion under the prefix"

# Bash completion as bash calls it: COMP_WORDS/COMP_CWORD set, the function
# leaves its words in COMPREPLY. The programs come from the installed prefix.
complete_words() { # PROGRAM WORD... : completes the last word
  local prog=$1; shift
  PATH="$T/prefix/bin:$PATH" bash --norc -c '
    source "$1"; shift; prog=$1; shift
    COMP_WORDS=("$prog" "$@"); COMP_CWORD=$#
    "_$prog" "$prog" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    printf "%s\n" "${COMPREPLY[@]}" | sort | tr "\n" " "' _ \
    "$T/prefix/share/bash-completion/completions/$prog" "$prog" "$@"
}
check() { # WANT PROGRAM WORD...
  local want=$1; shift
  local got; got=$(complete_words "$@")
  [[ "$got" == "$want " ]] || fail "completing '$*': got '$got', want '$want'"
}
check "--format" nettrace --for
check "--failed --format" nettrace --f
check "arrow json" nettrace --format ""
check "json" nettrace -6 --format j
# The backend names come from the backend table, through --help: no list here
# to forget when a backend is added.
backends=$("$T/prefix/bin/nettrace" --help | sed -n 's/^ *--backend NAME *\([a-z|]*\) .*/\1/p' | tr '|' ' ')
[[ "$backends" == auto\ * ]] || fail "cannot read the backend names from nettrace --help: '$backends'"
check "$backends" nettrace --backend ""
for b in $backends; do
  want=$(for c in $backends; do if [[ $c == "${b:0:2}"* ]]; then echo "$c"; fi; done | sort | tr "\n" " ")
  check "${want% }" nettrace --backend "${b:0:2}"
done
check "in out" nettrace --direction ""
check "root" nettrace -u roo
check "--timestamp" nettrace --time
check "--format" netgraph -T png --for # after an option's value, options again
check "pdf png" netgraph -T p
check "address cgroup comm container exe host pid pod service unit" netgraph --group-by ""
check "--group-by" netgraph --gr
check "--version" netgraph --vers
pass "bash completion: options from --help, --format/--backend/-T/--group-by words"
