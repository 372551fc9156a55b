#!/usr/bin/env bash
# Builds the admin panel (admin/) into OUT (default build/panel): `npm ci` from the committed
# lockfile when node_modules is missing or older than it, then Vite. The gateway serves OUT at
# /admin; nothing of Node is needed at run time.
#   bash tools/build-panel.sh [OUT]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${1:-$ROOT/build/panel}"
PANEL="$ROOT/admin"
if [ ! -f "$PANEL/package-lock.json" ]; then
  echo "build-panel: $PANEL/package-lock.json is missing: the panel cannot be built" >&2
  exit 1
fi
stamp="$PANEL/node_modules/.tianshu-installed-lock"
if [ ! -f "$stamp" ] || ! cmp -s "$stamp" "$PANEL/package-lock.json"; then
  echo "build-panel: installing the panel's npm packages (npm ci)"
  npm ci --no-audit --no-fund --prefix "$PANEL"
  cp "$PANEL/package-lock.json" "$stamp"
fi
echo "build-panel: vite build -> $OUT"
cd "$PANEL"
node node_modules/vite/bin/vite.js build --logLevel warn --outDir "$OUT" --emptyOutDir
