#!/usr/bin/env bash
# The load ctest: a fresh gateway must HOLD N concurrent slow streaming responses.
#
#   run_load_test.sh TIANSHU_BIN LOAD_STREAMS_BIN PLUGINS_DIR SCRIPTS_DIR [STREAMS] [DELAY_MS]
#
# Starts `tianshu serve` on a fresh data dir (127.0.0.1, free port), adds a demo channel
# "slow" whose stream sleeps DELAY_MS between words (~75 pauses: ~5 s per stream at 70 ms), then
# load_streams opens STREAMS connections at once and checks that every stream is complete
# and that all of them were open at the same moment. Timings are printed, never asserted.
# Ends with SIGTERM and checks that the server drains and exits 0.
set -euo pipefail

TIANSHU=${1:?tianshu binary}
CLIENT=${2:?load_streams binary}
PLUGINS=${3:?plugins dir}
SCRIPTS=${4:?scripts dir}
STREAMS=${5:-2000}
DELAY_MS=${6:-70}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tianshu-load.XXXXXX")
SERVER_PID=
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  echo "--- server stdout ---" >&2; tail -n 20 "$WORK/stdout" >&2 || true
  echo "--- server log (last 20 lines) ---" >&2; tail -n 20 "$WORK/server.log" >&2 || true
  exit 1
}

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

"$TIANSHU" serve --data "$WORK/data" --listen 127.0.0.1:0 --plugins-dir "$PLUGINS" --scripts-dir "$SCRIPTS" \
  >"$WORK/stdout" 2>"$WORK/server.log" &
SERVER_PID=$!

PORT=
for _ in $(seq 1 300); do
  PORT=$(sed -n 's|.*is serving on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$WORK/stdout" | head -n1)
  [[ -n "$PORT" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || fail "the server exited during start-up"
  sleep 0.1
done
[[ -n "$PORT" ]] || fail "the server did not print its address within 30 s"
KEY=$(grep -o 'sk-ts-[A-Za-z0-9_-]*' "$WORK/stdout" | head -n1)
[[ -n "$KEY" ]] || fail "no demo API key on a fresh data dir"
echo "server pid $SERVER_PID on 127.0.0.1:$PORT"

"$TIANSHU" channel add --data "$WORK/data" --name slow --type demo --models slow-model \
  --config "{\"delay_ms\": $DELAY_MS}" >/dev/null || fail "channel add failed"

# The CLI change reaches the server within ~1 s; until then the demo channel answers
# slow-model at full speed. Wait until a stream is paced (>= 20 pauses of DELAY_MS).
MIN_MS=$((DELAY_MS * 20))
ready=
for _ in $(seq 1 60); do
  ms=$(curl -sS -N --max-time 60 -o "$WORK/probe.txt" -w '%{time_total}' "http://127.0.0.1:$PORT/v1/messages" \
      -H "x-api-key: $KEY" -H 'content-type: application/json' \
      -d '{"model":"slow-model","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}' \
      2>/dev/null | awk '{printf "%d", $1 * 1000}') || ms=0
  if grep -q 'event: message_stop' "$WORK/probe.txt" 2>/dev/null && (( ${ms:-0} >= MIN_MS )); then
    ready=1; break
  fi
  sleep 0.5
done
[[ -n "$ready" ]] || fail "slow-model never answered a complete stream"
echo "slow channel ready: delay_ms=$DELAY_MS, one stream takes ${ms} ms"

set +e
"$CLIENT" --port "$PORT" --key "$KEY" --model slow-model --streams "$STREAMS" --deadline-seconds 180 \
  --server-pid "$SERVER_PID"
CLIENT_RC=$?
set -e

kill -TERM "$SERVER_PID"
TERM_AT=$(date +%s.%N)
SERVER_RC=
for _ in $(seq 1 600); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    set +e; wait "$SERVER_PID"; SERVER_RC=$?; set -e
    break
  fi
  sleep 0.1
done
[[ -n "$SERVER_RC" ]] || fail "the server did not exit within 60 s of SIGTERM"
SERVER_PID=
echo "server exited with status $SERVER_RC $(awk -v a="$TERM_AT" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s after SIGTERM"
echo "server log: $(wc -l <"$WORK/server.log") lines, $(grep -c '"level":"error"' "$WORK/server.log" || true) at level error"

[[ $CLIENT_RC -eq 0 ]] || fail "load_streams reported a failure (status $CLIENT_RC)"
[[ $SERVER_RC -eq 0 ]] || fail "the server exited with status $SERVER_RC after SIGTERM (expected 0)"
echo "PASS: $STREAMS concurrent slow streams held and completed"
