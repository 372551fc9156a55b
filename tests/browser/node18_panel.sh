#!/usr/bin/env bash
# The panel's toolchain on Debian 12's own Node.js (18): Debian's nodejs package (apt-get
# download, unpacked into BUILD/node18: nothing is installed), then the panel's unit tests and a
# full Vite build run on it. The machine's own node may be newer; this proves the floor.
#   bash tests/browser/node18_panel.sh BUILD
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="$(cd "${1:?usage: node18_panel.sh BUILD}" && pwd)"
DIR="$BUILD/node18"
log() { echo "node18_panel: $*" >&2; }
NODE="$DIR/root/usr/bin/node"
if [[ ! -x $NODE ]]; then
  version=$(apt-cache madison nodejs | awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep '^18\.' | head -n1)
  [[ -n $version ]] || { log "no nodejs 18 in the apt sources (Debian 12 carries it): apt-get update"; exit 1; }
  log "fetching Debian's nodejs $version"
  rm -rf "$DIR"; mkdir -p "$DIR"
  (cd "$DIR" && apt-get download "nodejs=$version" "libnode108=$version" >/dev/null 2>&1) ||
    { log "apt-get download nodejs=$version libnode108=$version failed"; exit 1; }
  for deb in "$DIR"/*.deb; do dpkg-deb -x "$deb" "$DIR/root"; done
fi
export LD_LIBRARY_PATH="$DIR/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
got=$("$NODE" --version)
[[ $got == v18.* ]] || { log "expected node 18, got $got"; exit 1; }
log "node $got"
[[ -d $ROOT/admin/node_modules ]] || { log "admin/node_modules missing: bash tools/build-panel.sh"; exit 1; }
cd "$ROOT/admin"
"$NODE" node_modules/vitest/vitest.mjs run
OUT=$(mktemp -d "${TMPDIR:-/tmp}/tianshu-panel18.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
"$NODE" node_modules/vite/bin/vite.js build --logLevel warn --outDir "$OUT" --emptyOutDir
[[ -f $OUT/index.html ]] || { log "vite on node 18 wrote no index.html"; exit 1; }
log "vite build on node $got: $(find "$OUT" -type f | wc -l) files"
