#!/usr/bin/env bash
# benchtool load: makes exactly the connections it says, on loopback (IPv4,
# IPv6, RST) and across two network namespaces; nettrace sees every one.
set -euo pipefail
bin=${1:?usage: load_test.sh BIN_DIR SRC_DIR}
src=${2:?usage: load_test.sh BIN_DIR SRC_DIR}
if [[ $(id -u) -ne 0 ]]; then
  [[ "${CI:-}" == "true" ]] && { echo "FAIL: CI must run the live tests as root" >&2; exit 1; }
  echo "SKIP: needs root (network namespaces, BPF)"; exit 77
fi
t=$(mktemp -d)
a=nt-bt-a-$$ b=nt-bt-b-$$
trap '"$src/tools/netns-pair.sh" down $a $b; kill $(jobs -p) 2>/dev/null || true; rm -rf "$t"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
check() { # name expected-count load-output
  local made failed
  made=$(awk '{ print $2 }' <<<"$3"); failed=$(awk '{ print $10 }' <<<"$3")
  [[ $made -eq $2 && $failed -eq 0 ]] || fail "$1: wanted $2 connections and no failure, got: $3"
}
check "IPv4" 300 "$("$bin/benchtool" load --count 300 --threads 2)"
check "IPv6" 300 "$("$bin/benchtool" load --count 300 --v6)"
check "RST" 300 "$("$bin/benchtool" load --count 300 --rst)"
"$src/tools/netns-pair.sh" up $a 10.232.0.1/24 $b 10.232.0.2/24
# nettrace sees both ends of each connection across the namespaces.
port=$((20000 + $$ % 10000))
"$bin/nettrace" --port $port --ready-file "$t/ready" >"$t/trace" 2>"$t/err" &
nt=$!
for _ in $(seq 1 200); do [[ -e $t/ready ]] && break; kill -0 $nt 2>/dev/null || fail "nettrace: $(cat "$t/err")"; sleep 0.05; done
out=$("$bin/benchtool" load --count 200 --port $port --server-netns $a --client-netns $b --addr 10.232.0.1)
check "two namespaces" 200 "$out"
sleep 0.3; kill -INT $nt; wait $nt || true
n_out=$(grep -c "^10.232.0.1:$port<-10.232.0.2:" "$t/trace" || true)
n_in=$(grep -c "^10.232.0.2:[0-9]*->10.232.0.1:$port|" "$t/trace" || true)
[[ $n_out -eq 200 && $n_in -eq 200 ]] || fail "two namespaces: nettrace saw $n_out connects and $n_in accepts, want 200 each"
"$bin/benchtool" load --server-netns $a 2>/dev/null && fail "a lone --server-netns was accepted"
echo "load: IPv4, IPv6, RST, two namespaces: exact counts; nettrace saw 200 + 200 across the namespaces"
