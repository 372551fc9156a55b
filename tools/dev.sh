#!/usr/bin/env bash
# The README's two commands:
#   bash tools/dev.sh run    install what is missing, build, start the gateway with a demo setup
#   bash tools/dev.sh test   install what is missing, build (warnings as errors), run every test
# A fresh Debian 12 may not even have make, so dependencies come first, then make.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  run|test|bench) ;;
  *) echo "usage: bash tools/dev.sh run|test|bench" >&2; exit 2 ;;
esac
bash tools/install-deps.sh
exec make "$1"
