#!/usr/bin/env bash
# Installs the Debian 12 packages Tianshu needs to build, run and test — only those missing.
# Uses sudo when not root. Safe to run again.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git curl ca-certificates
  # libraries
  libpoco-dev liblua5.4-dev nlohmann-json3-dev libsoci-dev libsqlite3-dev libmariadb-dev
  libboost-dev libboost-filesystem-dev libboost-context-dev libssl-dev libvalijson-dev libsimdjson-dev
  libgoogle-perftools-dev
  # tests and benchmarks
  catch2 libbenchmark-dev mariadb-server redis-server wrk lua5.4 nginx valgrind clang libclang-rt-14-dev
  # the admin panel's browser tests: Debian's chromium (driven by playwright-core, no browser
  # download) and CJK fonts so that Chinese screenshots show real glyphs
  chromium fonts-noto-cjk
)

# Node.js runs the fake upstream and the real npm clients. Any nodejs that brings npm will do
# (some machines carry a newer nodejs that bundles npm; Debian's separate npm package would
# conflict with it), so only ask Debian for them when the commands are missing.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

install_debian_packages() {
  if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} Debian packages present"
    return 0
  fi
  local SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
      echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1
    fi
  fi
  echo "install-deps: installing ${#missing[@]} missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  # mariadb-server's post-install may try to start a service; on machines without an init
  # system that fails harmlessly, so the install must not depend on it.
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# The npm clients of the end-to-end tests (tests/e2e: @anthropic-ai/sdk, openai, and the
# Claude Code CLI), at the exact versions of its package-lock.json; skipped when already there.
install_npm_clients() {
  local e2e
  e2e="$(cd "$(dirname "$0")/.." && pwd)/tests/e2e"
  local stamp="$e2e/node_modules/.tianshu-installed-lock"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$e2e/package-lock.json"; then
    echo "install-deps: npm clients present (tests/e2e)"
    return 0
  fi
  echo "install-deps: installing npm clients for tests/e2e (npm ci)"
  npm ci --no-audit --no-fund --prefix "$e2e"
  cp "$e2e/package-lock.json" "$stamp"
}

install_debian_packages
install_npm_clients
