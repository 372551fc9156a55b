#!/usr/bin/env bash
# The admin panel in a real browser: starts `tianshu serve` on a throwaway store (port 0, the
# built panel from BUILD/panel), runs
# admin/e2e/panel.e2e.mjs (playwright-core driving Debian's /usr/bin/chromium headless, axe-core
# on every page in both themes), then checks through the CLI that what the browser wrote is in
# the store. Screenshots land in BUILD/panel-screenshots.
#   bash tests/browser/run_panel.sh BUILD
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="$(cd "${1:?usage: run_panel.sh BUILD}" && pwd)"
TIANSHU="$BUILD/tianshu"
log() { echo "run_panel: $*" >&2; }

[[ -x $TIANSHU ]] || { log "$TIANSHU not found: build first"; exit 1; }
[[ -f $BUILD/panel/index.html ]] || { log "$BUILD/panel is not built: bash tools/build-panel.sh $BUILD/panel"; exit 1; }
[[ -x /usr/bin/chromium ]] || { log "Debian's chromium is missing: apt-get install chromium (tools/install-deps.sh does)"; exit 1; }
[[ -d $ROOT/admin/node_modules/playwright-core ]] || { log "admin/node_modules lacks playwright-core: bash tools/build-panel.sh"; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tianshu-panel.XXXXXX")
PID=""
cleanup() {
  local status=$?
  if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then kill "$PID"; wait "$PID" 2>/dev/null || true; fi
  if [[ $status -ne 0 && -f $TMP/serve.err ]]; then log "gateway log (tail):"; tail -n 30 "$TMP/serve.err" >&2; fi
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT

"$TIANSHU" serve --data "$TMP/data" --listen 127.0.0.1:0 --panel-dir "$BUILD/panel" \
  >"$TMP/serve.out" 2>"$TMP/serve.err" &
PID=$!
for _ in $(seq 1 300); do
  grep -q "is serving on" "$TMP/serve.out" 2>/dev/null && grep -q "demo API key" "$TMP/serve.out" && break
  kill -0 "$PID" 2>/dev/null || { log "the gateway exited"; exit 1; }
  sleep 0.1
done
URL=$(grep -o 'is serving on http://[0-9.:]*' "$TMP/serve.out" | awk '{print $4}')
ADMIN_PASSWORD=$(grep -o 'admin login: *admin / [^ ]*' "$TMP/serve.out" | awk '{print $5}')
[[ -n $URL && -n $ADMIN_PASSWORD ]] || { log "no URL or admin password in the banner"; cat "$TMP/serve.out" >&2; exit 1; }
log "gateway at $URL"

SUFFIX="e2e$RANDOM"
SCREENSHOTS="$BUILD/panel-screenshots"
rm -rf "$SCREENSHOTS"; mkdir -p "$SCREENSHOTS"
TIANSHU_URL="$URL" TIANSHU_ADMIN_PASSWORD="$ADMIN_PASSWORD" E2E_PREFIX="$SUFFIX" \
  SCREENSHOT_DIR="$SCREENSHOTS" node "$ROOT/admin/e2e/panel.e2e.mjs"

# What the browser wrote, read back through the CLI (the same service operations).
check() {  # check WHAT PATTERN COMMAND... : the command's output matches PATTERN
  local what=$1 pattern=$2; shift 2
  if "$TIANSHU" "$@" --data "$TMP/data" 2>&1 | grep -Eq -- "$pattern"; then
    log "ok: the $what written in the browser is in the store"
  else
    log "FAILED: no $what matching '$pattern' in: tianshu $*"; "$TIANSHU" "$@" --data "$TMP/data" >&2 || true; exit 1
  fi
}
check channel "$SUFFIX-chan" channel list
check "channel added from the deepseek preset" "\"provider\": \"deepseek\"" channel list --json
check tier "$SUFFIX-tier" tier list
check user "$SUFFIX-user" user list
check "user's tier" "$SUFFIX-user.*$SUFFIX-tier" user list
check key "$SUFFIX-key" key list --user "$SUFFIX-user"
check "user's own key" "$SUFFIX-own-key" key list --user "$SUFFIX-user"
check price "$SUFFIX-model" price list
check "chain versions" "^ *3 " chain versions "$SUFFIX-chain"
check "top-up" "topup +12\.500000" user ledger --user "$SUFFIX-user"
check "redemption batch, one code of it redeemed" "^$SUFFIX-batch +2 +1 " redeem list
check "redeemed code in the user's ledger" "redemption +5\.000000" user ledger --user "$SUFFIX-user"
check "playground request (billed to the operator, logged)" "\"requested_model\": \"$SUFFIX-model\"" logs --user admin --json
check "invite rebate share" "receive 7\.25% of each top-up" invite show
check "user's invite code" "$SUFFIX-user" invite list
shots=$(ls "$SCREENSHOTS" | wc -l)
log "screenshots: $shots in $SCREENSHOTS"
[[ $shots -ge 10 ]] || { log "FAILED: expected a screenshot of every page (at least 10), got $shots"; exit 1; }
echo "browser_panel: 1 passed, 0 failed"
