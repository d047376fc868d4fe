#!/bin/sh
# nettrace --serve scraped once a second, as Prometheus would, for
#   tools/bench/run.sh --extra-nettrace serve=tools/bench/serve-scraped.sh
# (issue 14: the storm's R with --serve and a 1 s scraper beside plain output).
# The scraper runs beside, then this shell becomes nettrace (exec: the same
# pid, so run.sh's CPU, memory and SIGINT reach nettrace itself); the scraper
# ends when nettrace does. NT_SERVE_BIN picks the nettrace binary (default: the
# build next to this script's checkout).
here=$(cd "$(dirname "$0")/../.." && pwd)
bin=${NT_SERVE_BIN:-$here/build/bin/nettrace}
port=${NT_SERVE_PORT:-19999}
me=$$
(
  while kill -0 "$me" 2>/dev/null; do
    curl -s -m 2 -o /dev/null "http://127.0.0.1:$port/metrics"
    sleep 1
  done
) </dev/null >/dev/null 2>&1 &
exec "$bin" --serve "127.0.0.1:$port" "$@"
