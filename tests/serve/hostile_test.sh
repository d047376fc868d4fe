#!/usr/bin/env bash
# Hostile HTTP clients while a connection storm runs: slowloris clients (more
# than --serve-max-clients, each dripping a byte now and then), a huge request
# and bad query parameters get their limits (408, 431, 400 with a one-line
# reason), a good client is answered all along, and nettrace counts every
# connection the storm made: none lost.
source "$(dirname "$0")/lib.sh"
need_root
need_tools curl
W=$BIN/workload
# The slowloris clients are cut by the server: their writes must fail, not kill us.
trap "" PIPE

sp=$(free_listen_port)
port=$(free_listen_port)
while [[ $port == "$sp" ]]; do port=$(free_listen_port); done
# The port filter keeps the count to the storm's own connections.
start_serve h "$sp" --port "$port" --serve-max-clients 8
url=http://127.0.0.1:$sp

"$W" serve --listen 127.0.0.1:$port --comm nt-hsrv --count 0 -v >"$T/srv" &
srv=$!; NT_BG_PIDS+=("$srv")
wait_ready_line "$T/srv" "$srv"
# The storm: rounds of 1000 connections (two threads of 500) until the
# hostile clients are done, so it runs all the while they do.
(
  while [[ ! -e "$T/stop" ]]; do
    "$W" connect --to 127.0.0.1:$port --comm nt-hcli --count 500 --threads 2 >/dev/null || exit 1
    echo round >>"$T/rounds"
  done
) &
storm=$!; NT_BG_PIDS+=("$storm")

# 20 slowloris clients for 8 places, one byte each every 0.3 s.
slow=()
for i in $(seq 1 20); do
  exec {fd}<>"/dev/tcp/127.0.0.1/$sp"
  slow+=("$fd")
  printf 'G' >&"$fd" 2>/dev/null || true
done
answered=0
for round in $(seq 1 10); do
  for fd in "${slow[@]}"; do printf 'E' >&"$fd" 2>/dev/null || true; done
  # A good client still gets its answer at once.
  [[ $(curl -sS -m 2 "$url/healthz") == ok ]] && answered=$((answered + 1))
  sleep 0.3
done
[[ $answered -eq 10 ]] || fail "/healthz answered $answered of 10 times while slowloris clients dripped"
pass "/healthz answered 10 of 10 times among 20 slowloris clients for 8 places"

# A huge request head, and bad parameters.
code=$(curl -sS -o "$T/huge" -w '%{http_code}' -H "X-Big: $(head -c 20000 /dev/zero | tr '\0' a)" "$url/metrics")
[[ $code == 431 ]] || fail "a 20 kB request head got $code, not 431"
code=$(curl -sS -o "$T/bad" -w '%{http_code}' "$url/api/events?pid=abc")
[[ $code == 400 && "$(cat "$T/bad")" == "pid must be a process id from 1 to 4294967295, got 'abc'" ]] ||
  fail "pid=abc got $code: $(cat "$T/bad")"
code=$(curl -sS -o "$T/bad" -w '%{http_code}' "$url/api/graph?format=gif")
[[ $code == 400 && "$(cat "$T/bad")" == "format must be dot, json or svg, got 'gif'" ]] ||
  fail "format=gif got $code: $(cat "$T/bad")"
code=$(curl -sS -o "$T/bad" -w '%{http_code}' -X POST -d x=1 "$url/metrics")
[[ $code == 413 ]] || fail "a POST with a body got $code, not 413"
pass "huge head 431, bad parameters 400 with their reason, a body 413"

touch "$T/stop"
wait "$storm" || fail "the storm's client failed"
conns=$(( $(wc -l <"$T/rounds") * 1000 ))
[[ $conns -ge 2000 ]] || fail "the storm made only $conns connections while the hostile clients ran"
for fd in "${slow[@]}"; do exec {fd}>&- 2>/dev/null || true; done

# Every connection of the storm was counted, on both ends, none lost.
metric() { curl -fsS "$url/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
# Accepts are compared with what the server itself accepted, connects with
# what the client made. A connection reset before the server accepts it (its
# peer "[::]:0" in the server's words) has lost its ports by then: the port
# filter cannot keep it, with or without --serve (plain output misses it
# too), so it is not counted on either side.
deadline=$((SECONDS + 10))
while :; do
  accepted=$(grep '^accepted' "$T/srv" | grep -vc ' \[::\]:0$' || true)
  reset=$(grep -c '^accepted .* \[::\]:0$' "$T/srv" || true)
  accepts=$(metric 'nettrace_events_total{kind="accept"}')
  [[ $accepts == "$accepted" ]] && break
  [[ $SECONDS -ge $deadline ]] && break
  sleep 0.5
done
connects=$(metric 'nettrace_events_total{kind="connect"}')
lost=$(metric 'nettrace_lost_events_total')
edge=$(metric "nettrace_connections_total{comm=\"nt-hcli\",direction=\"out\",server_addr=\"127.0.0.1\",server_port=\"$port\"}")
echo "storm: the client made $conns connections, the server accepted $accepted (and $reset already reset); served connect $connects (edge $edge), accept $accepts, lost $lost"
[[ $connects == "$conns" && $edge == "$conns" && $accepts == "$accepted" && $lost == 0 ]] ||
  fail "nettrace served connect $connects (edge $edge), accept $accepts, lost $lost; made $conns, accepted $accepted"
rejected=$(curl -fsS "$url/metrics" | awk '$1 ~ /^nettrace_http_rejected_total/ { s += $2 } END { print s + 0 }')
[[ $rejected -ge 12 ]] || fail "only $rejected HTTP clients counted as rejected"
pass "storm: $conns connects and $accepted accepts counted, 0 lost; $rejected hostile clients counted"
# The ring buffer's use: the storm filled some of it between drains, never
# more than its size, and it is drained between scrapes.
size=$(metric nettrace_ringbuf_size_bytes)
used=$(metric nettrace_ringbuf_used_bytes)
peak=$(metric nettrace_ringbuf_peak_used_bytes)
[[ -n $size && -n $used && -n $peak ]] || fail "/metrics lacks the ring buffer's size ($size), use ($used) or peak ($peak)"
[[ $peak -gt 0 && $peak -le $size && $used -le $peak ]] ||
  fail "ring buffer: peak $peak, now $used, size $size: the storm must show a peak above 0, within the size"
pass "ring buffer use: peak $peak of $size bytes during the storm, $used now"
stop_serve "$SERVE_PID" h
kill "$srv" 2>/dev/null || true

# --user: the port is bound before privileges drop (one below 1024 here, which
# only root may bind), and every thread, the HTTP one too, ends with no
# capability and nobody's uid.
for _ in $(seq 1 50); do
  lp=$((600 + RANDOM % 400))
  ss -Htln "sport = :$lp" | grep -q . || break
done
start_serve u "$lp" --user nobody --port "$port"
[[ $(curl -fsS "http://127.0.0.1:$lp/healthz") == ok ]] || fail "--user nobody: /healthz does not answer"
nobody=$(id -u nobody)
threads=0
for task in /proc/$SERVE_PID/task/*; do
  threads=$((threads + 1))
  [[ $(awk '$1 == "CapEff:" { print $2 }' "$task/status") == 0000000000000000 ]] ||
    fail "--user nobody: thread $(basename "$task") keeps capabilities: $(grep Cap "$task/status")"
  [[ $(awk '$1 == "Uid:" { print $2 $3 }' "$task/status") == "$nobody$nobody" ]] ||
    fail "--user nobody: thread $(basename "$task") is not uid $nobody"
done
[[ $threads -ge 2 ]] || fail "--user nobody: expected the loop and the HTTP thread, found $threads threads"
stop_serve "$SERVE_PID" u
pass "--user nobody: port $lp bound before the drop; $threads threads, none with a capability"
