#!/usr/bin/env bash
# Installs the `sdk` component into a temporary prefix, builds sdk/examples as its own
# project against that prefix alone, then loads the plugin it produced into the real host.
# usage: example_against_installed_sdk.sh <build dir> <source dir> <unit_plugin> <generator>
set -euo pipefail
build_dir=$1 source_dir=$2 unit_plugin=$3 generator=$4
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tianshu-sdk-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build_dir" --component sdk --prefix "$tmp/prefix"
test -f "$tmp/prefix/include/tianshu/abi.h"
test -f "$tmp/prefix/include/tianshu/plugin.hpp"
test -f "$tmp/prefix/lib/cmake/TianshuSDK/TianshuSDKConfig.cmake"
test -f "$tmp/prefix/lib/cmake/TianshuSDK/TianshuSDKConfigVersion.cmake"

# A copy of the example, so nothing beside it (host/, the main CMakeLists) can be reached.
cp -r "$source_dir/sdk/examples" "$tmp/examples"
cmake -S "$tmp/examples" -B "$tmp/build" -G "$generator" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$tmp/prefix"
cmake --build "$tmp/build" -j2
plugin="$tmp/build/greeting/example_greeting.so"
test -f "$plugin"
if nm -D --defined-only "$plugin" | grep -v ' tianshu_plugin_entry$' | grep -q ' T '; then
  echo "example_greeting.so exports more than tianshu_plugin_entry:" >&2
  nm -D --defined-only "$plugin" >&2
  exit 1
fi

out=$(TIANSHU_EXAMPLE_PLUGIN="$plugin" "$unit_plugin" "[installed-example]" 2>&1) || { echo "$out"; exit 1; }
echo "$out"
# Catch2 exits 0 when no test matched: insist that the one case ran.
grep -q "All tests passed (.* in 1 test case)" <<<"$out"
