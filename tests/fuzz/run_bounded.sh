#!/usr/bin/env bash
# Builds the libFuzzer targets with Clang (address + undefined + fuzzer) in their own build dir
# and runs them for TOTAL_SECONDS in all, shared equally (adding a target does not lengthen CI),
# seeded with the golden protocol cases and a few real heads and responses. Fails on any crash.
#   run_bounded.sh SOURCE_DIR BUILD_DIR TOTAL_SECONDS
set -euo pipefail
SRC=${1:?source dir}
BUILD=${2:?build dir}
TOTAL_SECONDS=${3:-120}
TARGETS=(request:fuzz_anthropic_request sse:fuzz_sse_parser stream:fuzz_openai_stream
  http1:fuzz_http1_response head:fuzz_http_request_head post:fuzz_post_stream
  responses:fuzz_responses gemini_request:fuzz_gemini_request gemini_stream:fuzz_gemini_stream)
SECONDS_EACH=$((TOTAL_SECONDS / ${#TARGETS[@]}))
[ "$SECONDS_EACH" -ge 1 ] || SECONDS_EACH=1

mkdir -p "$BUILD"
CC=clang CXX=clang++ cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTIANSHU_FUZZ=ON -DTIANSHU_BUILD_BENCH=OFF -DTIANSHU_WERROR=ON >"$BUILD/configure.log" 2>&1 \
  || { cat "$BUILD/configure.log"; exit 1; }
cmake --build "$BUILD" --target "${TARGETS[@]##*:}" -j "$(nproc)"

seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
mkdir -p "$seeds/request" "$seeds/sse" "$seeds/stream" "$seeds/http1" "$seeds/head" "$seeds/post" \
  "$seeds/gemini_request" "$seeds/gemini_stream"
mkdir -p "$seeds/responses"
j=0
for f in "$SRC"/tests/unit/protocol/responses_cases/*/in.json; do
  j=$((j + 1))
  cp "$f" "$seeds/responses/case$j.json"
done
printf 'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","item_id":"m","output_index":0,"delta":"hi"}\n\nevent: response.completed\ndata: {"type":"response.completed","response":{"status":"completed","usage":{"input_tokens":3,"output_tokens":1}}}\n\n' \
  >"$seeds/responses/sse1"
i=0
for f in "$SRC"/tests/unit/protocol/cases/*/in.json; do
  i=$((i + 1))
  cp "$f" "$seeds/request/case$i.json"
  cp "$f" "$seeds/stream/case$i.json"
done
i=0
for f in "$SRC"/tests/unit/protocol/gemini_cases/*/in.json; do
  i=$((i + 1))
  cp "$f" "$seeds/gemini_request/case$i.json"
  # a stream case is a JSON array of chunks: one compact chunk per line, as the target reads
  node -e 'const a=JSON.parse(require("fs").readFileSync(process.argv[1]));if(Array.isArray(a))for(const c of a)console.log(typeof c==="string"?c:JSON.stringify(c));else console.log(JSON.stringify(a))' \
    "$f" >"$seeds/gemini_stream/case$i" 2>/dev/null || cp "$f" "$seeds/gemini_stream/case$i"
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
# Request heads as clients send them (an SDK, curl, a proxy hop, HTTP/1.0, pipelined).
printf 'POST /v1/messages?beta=true HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nx-api-key: sk-test\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\nAccept: application/json\r\nUser-Agent: Anthropic/Python 0.40.0\r\nX-Stainless-Retry-Count: 0\r\nContent-Length: 2\r\n\r\n{}' \
  >"$seeds/head/sdk"
printf 'POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer sk-test\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n' \
  >"$seeds/head/chunked"
printf 'GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\nX-Forwarded-For: 203.0.113.7, 10.0.0.2\r\nForwarded: for="[2001:db8::17]:4711";proto=https, for=10.0.0.2\r\n\r\n' \
  >"$seeds/head/proxied"
printf '\r\nHEAD / HTTP/1.1\nHost: t\nConnection: close\n\nGET / HTTP/1.1\r\n\r\n' >"$seeds/head/bare_lf"

# Post-stage steering: nothing done, then holds and releases, then inserts and failures.
printf '\x00' >"$seeds/post/pass"
printf '\x01\x01\x01\x01\x02\x02\x01\x01\x02\x02' >"$seeds/post/hold_release"
printf '\x00\x03\x04\x05\x06\x02\x88\x03\x04\x0b\x05\x0c' >"$seeds/post/insert_fail"

status=0
for t in "${TARGETS[@]}"; do
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
