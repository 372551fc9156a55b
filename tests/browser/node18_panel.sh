#!/usr/bin/env bash
# The panel's toolchain on Debian 12's own Node.js (18): Debian's nodejs, libnode108 and the
# three JS packages its libnode loads from /usr/share/nodejs (acorn, cjs-module-lexer, undici),
# fetched with apt-get download and unpacked into BUILD/node18 (nothing is installed). The
# unpacked /usr/share/nodejs is bind-mounted in a private mount namespace (unshare -m) for the
# run only. Then the panel's unit tests and a full Vite build run on node 18. The machine's own
# node may be newer; this proves the floor.
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
  (cd "$DIR" && apt-get download "nodejs=$version" "libnode108=$version" node-acorn \
      node-cjs-module-lexer node-undici >/dev/null 2>&1) ||
    { log "apt-get download nodejs=$version libnode108=$version node-acorn node-cjs-module-lexer node-undici failed"; exit 1; }
  for deb in "$DIR"/*.deb; do dpkg-deb -x "$deb" "$DIR/root"; done
fi
export LD_LIBRARY_PATH="$DIR/root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
[[ -d $ROOT/admin/node_modules ]] || { log "admin/node_modules missing: bash tools/build-panel.sh"; exit 1; }
command -v unshare >/dev/null || { log "unshare (util-linux) is missing"; exit 1; }
made_mountpoint=""
if [[ ! -e /usr/share/nodejs ]]; then mkdir -p /usr/share/nodejs; made_mountpoint=1; fi
OUT=$(mktemp -d "${TMPDIR:-/tmp}/tianshu-panel18.XXXXXX")
trap 'rm -rf "$OUT"; [[ -n $made_mountpoint ]] && rmdir /usr/share/nodejs 2>/dev/null; true' EXIT
# Inside its own mount namespace: Debian's node 18 sees its JS dependencies where it expects them.
unshare -m bash -euo pipefail -c '
  mount --bind "$1/root/usr/share/nodejs" /usr/share/nodejs
  NODE="$1/root/usr/bin/node"
  got=$("$NODE" --version)
  [[ $got == v18.* ]] || { echo "node18_panel: expected node 18, got $got" >&2; exit 1; }
  echo "node18_panel: node $got" >&2
  cd "$2/admin"
  "$NODE" node_modules/vitest/vitest.mjs run
  "$NODE" node_modules/vite/bin/vite.js build --logLevel warn --outDir "$3" --emptyOutDir
' node18 "$DIR" "$ROOT" "$OUT"
[[ -f $OUT/index.html ]] || { log "vite on node 18 wrote no index.html"; exit 1; }
log "vite build on node 18: $(find "$OUT" -type f | wc -l) files"
