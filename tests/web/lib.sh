# Helpers of the page tests: Debian's chromium driven by tests/web/drive.mjs
# (puppeteer-core from tests/web/package-lock.json). Sourced after
# tests/hardening/lib.sh (or tests/serve/lib.sh): $T, fail, pass, NT_BG_PIDS.
WEB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Chromium, node and the pinned puppeteer-core, or SKIP (a failure under CI).
need_browser() {
  local why=""
  command -v "${NT_CHROMIUM:-chromium}" >/dev/null || why="chromium is not installed"
  command -v node >/dev/null || why="node is not installed"
  [[ -d "$WEB_DIR/node_modules/puppeteer-core" ]] || why="tests/web/node_modules is missing (npm ci --prefix tests/web)"
  if [[ -n "$why" ]]; then
    [[ "${CI:-}" == "true" ]] && fail "$why under CI (tools/install-deps.sh installs it)"
    echo "SKIP: $why (tools/install-deps.sh installs it)"
    exit 77
  fi
}

# Opens URL in headless chromium; drive() then sends it commands (drive.mjs).
# Chromium with an open event stream never ends by itself: the driver runs
# under timeout, and its process group is killed at exit.
start_browser() {
  local url=$1
  rm -f "$T/drv.in" "$T/drv.out" "$T/browser.pid"
  mkfifo "$T/drv.in" "$T/drv.out"
  NT_BROWSER_PIDFILE=$T/browser.pid setsid timeout 240 node "$WEB_DIR/drive.mjs" "$url" \
    <"$T/drv.in" >"$T/drv.out" 2>"$T/drv.err" &
  DRV_PID=$!
  NT_BG_PGIDS+=("$DRV_PID")
  exec {DRV_W}>"$T/drv.in"
  exec {DRV_R}<"$T/drv.out"
  for _ in $(seq 1 300); do
    [[ -s "$T/browser.pid" ]] && break
    kill -0 "$DRV_PID" 2>/dev/null || break
    sleep 0.1
  done
  [[ -s "$T/browser.pid" ]] || { cat "$T/drv.err" >&2; fail "chromium did not start"; }
  NT_BG_PGIDS+=("$(cat "$T/browser.pid")")
}

# drive JSON: one command; its answer in $T/answer.json. Fails on ok:false.
drive() {
  printf '%s\n' "$1" >&"$DRV_W"
  local line
  if ! IFS= read -r -t 120 line <&"$DRV_R"; then
    cat "$T/drv.err" >&2
    fail "the browser driver gave no answer to: $1"
  fi
  printf '%s\n' "$line" >"$T/answer.json"
  if [[ $(jq -r .ok "$T/answer.json") != true ]]; then
    jq -c '.state' "$T/answer.json" >&2 || cat "$T/answer.json" >&2
    fail "browser: $(jq -r .error "$T/answer.json")"
  fi
}

# jq over the last answer.
answer() { jq -r "$@" "$T/answer.json"; }

stop_browser() {
  drive '{"op":"quit"}'
  exec {DRV_W}>&- {DRV_R}<&-
  wait "$DRV_PID" 2>/dev/null || true
}

# What the page must never do, whatever it shows: a script error, a request
# that leaves the server, markup made from data, a reload.
page_clean() {
  local what=$1
  [[ $(answer '.console_errors | length') == 0 ]] || fail "$what: console errors: $(answer -c .console_errors)"
  [[ $(answer '.foreign_requests | length') == 0 ]] || fail "$what: requests off the server: $(answer -c .foreign_requests)"
  [[ $(answer '.dom.injected') == 0 ]] || fail "$what: the DOM holds elements the page never makes"
  [[ $(answer '.dom.pwned') == null ]] || fail "$what: a name's script ran"
  [[ $(answer '.loads') == 1 ]] || fail "$what: the page loaded $(answer .loads) times (want no reload)"
}
