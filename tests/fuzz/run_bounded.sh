#!/usr/bin/env bash
# Builds the libFuzzer targets with Clang (address + undefined + fuzzer) in their own build dir
# and runs each for SECONDS, seeded with the golden protocol cases. Fails on any crash.
#   run_bounded.sh SOURCE_DIR BUILD_DIR SECONDS
set -euo pipefail
SRC=${1:?source dir}
BUILD=${2:?build dir}
SECONDS_EACH=${3:-30}

mkdir -p "$BUILD"
CC=clang CXX=clang++ cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTIANSHU_FUZZ=ON -DTIANSHU_BUILD_BENCH=OFF -DTIANSHU_WERROR=ON >"$BUILD/configure.log" 2>&1 \
  || { cat "$BUILD/configure.log"; exit 1; }
cmake --build "$BUILD" --target fuzz_anthropic_request fuzz_sse_parser fuzz_openai_stream \
  fuzz_http1_response -j "$(nproc)"

seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
mkdir -p "$seeds/request" "$seeds/sse" "$seeds/stream" "$seeds/http1"
i=0
for f in "$SRC"/tests/unit/protocol/cases/*/in.json; do
  i=$((i + 1))
  cp "$f" "$seeds/request/case$i.json"
  cp "$f" "$seeds/stream/case$i.json"
done
printf 'event: message_start\ndata: {"type":"message_start"}\n\ndata: [DONE]\n\n' >"$seeds/sse/seed1"
# HTTP/1.1 responses; the first byte picks the piece size and (0x80) a HEAD request.
printf '\x07HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}' \
  >"$seeds/http1/length"
printf '\x03HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n' \
  >"$seeds/http1/chunked"
printf '\x0bHTTP/1.0 200 OK\nConnection: keep-alive\nX-Folded: a\n b\n\ndata: x\n\n' >"$seeds/http1/until_close"
printf '\x85HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nConnection: close\r\n\r\n' \
  >"$seeds/http1/head"

status=0
for t in request:fuzz_anthropic_request sse:fuzz_sse_parser stream:fuzz_openai_stream \
  http1:fuzz_http1_response; do
  corpus=${t%%:*}
  target=${t##*:}
  echo "== $target for ${SECONDS_EACH}s"
  if ! (cd "$seeds" && "$BUILD/tests/fuzz/$target" -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 \
        -print_final_stats=1 "$seeds/$corpus" 2>&1 | tail -n 12); then
    echo "FAIL: $target found a crash (artifact in $seeds, printed above)"
    status=1
  fi
done
exit $status
