#!/usr/bin/env bash
# Installs the Debian 12 packages Tianshu needs to build, run and test — only those missing.
# Uses sudo when not root. Safe to run again.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git curl ca-certificates
  # libraries
  libpoco-dev liblua5.4-dev nlohmann-json3-dev libsoci-dev libsqlite3-dev libmariadb-dev
  libboost-dev libboost-filesystem-dev libssl-dev libvalijson-dev
  # tests and benchmarks
  catch2 libbenchmark-dev mariadb-server wrk lua5.4 nginx valgrind clang libclang-rt-14-dev
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

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} Debian packages present"
  exit 0
fi

SUDO=""
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
