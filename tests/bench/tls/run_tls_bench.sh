#!/usr/bin/env bash
# TLS upstreams on fibers, side by side with plain http: STREAMS concurrent slow streams
# through a fresh gateway to a local upstream (tests/bench/tls/slow_upstream.mjs), once over
# http and once over https (a test CA made here with the openssl CLI, given to the channel as
# options.ca_file), reporting the server's peak threads, peak RSS and time to first token.
#
#   run_tls_bench.sh BUILD_DIR [STREAMS=2000] [WORDS=40] [DELAY_MS=100]
#
# Needs a built BUILD_DIR/host/app/tianshu (or BUILD_DIR/tianshu), BUILD_DIR/tests/load/load_streams,
# the plugins (BUILD_DIR/plugins), node and openssl. Everything listens on 127.0.0.1.
# Prints figures only; it asserts nothing but that every stream completed.
set -euo pipefail

BUILD=$(cd "${1:?usage: run_tls_bench.sh BUILD_DIR [STREAMS] [WORDS] [DELAY_MS]}" && pwd)
STREAMS=${2:-2000}
WORDS=${3:-40}
DELAY_MS=${4:-100}
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
TIANSHU=$(find "$BUILD" -maxdepth 3 -type f -name tianshu -perm -u+x | head -n1)
CLIENT=$BUILD/tests/load/load_streams
PLUGINS=$BUILD/plugins
SCRIPTS=$SRC/scripts
[[ -x "$TIANSHU" && -x "$CLIENT" ]] || { echo "build tianshu and load_streams first" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tianshu-tls-bench.XXXXXX")
SERVER_PID= UP_PID=
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill -KILL "$SERVER_PID" 2>/dev/null || true
  [[ -n "$UP_PID" ]] && kill -TERM "$UP_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bash "$SRC/tests/scripts/make_tls_certs.sh" "$WORK/certs" >/dev/null 2>&1
node "$SRC/tests/bench/tls/slow_upstream.mjs" --cert "$WORK/certs/good.pem" --key "$WORK/certs/good.key" \
  --words "$WORDS" --delay-ms "$DELAY_MS" >"$WORK/upstream.out" 2>"$WORK/upstream.err" &
UP_PID=$!
for _ in $(seq 1 100); do grep -q https= "$WORK/upstream.out" 2>/dev/null && break; sleep 0.1; done
HTTP_PORT=$(sed -n 's/.*http=\([0-9]*\).*/\1/p' "$WORK/upstream.out")
HTTPS_PORT=$(sed -n 's/.*https=\([0-9]*\).*/\1/p' "$WORK/upstream.out")
[[ -n "$HTTPS_PORT" ]] || { echo "slow upstream did not start: $(cat "$WORK/upstream.err")" >&2; exit 1; }

cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$1/stat"; }
# The upstream's CPU: its primary and its worker processes.
up_cpu() {
  local total=0 p
  for p in $UP_PID $(pgrep -P "$UP_PID"); do total=$(awk -v a="$total" -v b="$(cpu "$p")" 'BEGIN{print a + b}'); done
  echo "$total"
}

# run MODE BASE_URL CONFIG: one fresh gateway, one load run; the figures go to $WORK/MODE.txt.
run() {
  local mode=$1 base=$2 config=$3 data=$WORK/data-$1
  "$TIANSHU" serve --data "$data" --listen 127.0.0.1:0 --plugins-dir "$PLUGINS" --scripts-dir "$SCRIPTS" \
    >"$WORK/$mode.stdout" 2>"$WORK/$mode.log" &
  SERVER_PID=$!
  local port= key=
  for _ in $(seq 1 300); do
    port=$(sed -n 's|.*is serving on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$WORK/$mode.stdout" | head -n1)
    [[ -n "$port" ]] && break
    sleep 0.1
  done
  key=$(grep -o 'sk-ts-[A-Za-z0-9_-]*' "$WORK/$mode.stdout" | head -n1)
  [[ -n "$port" && -n "$key" ]] || { echo "$mode: the gateway did not start" >&2; tail "$WORK/$mode.log" >&2; exit 1; }
  "$TIANSHU" channel add --data "$data" --name bench --type openai_compat --base-url "$base" \
    --key sk-bench --models bench-model --plugins-dir "$PLUGINS" --scripts-dir "$SCRIPTS" \
    --config "$config" >/dev/null
  # The CLI change reaches the server within ~1 s; until then the demo chain answers any model:
  # ready once an answer comes from the slow upstream (its words).
  local ready=
  for _ in $(seq 1 60); do
    if curl -sS -N --max-time 60 "http://127.0.0.1:$port/v1/messages" -H "x-api-key: $key" \
        -H 'content-type: application/json' \
        -d '{"model":"bench-model","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}' \
        2>/dev/null >"$WORK/probe.txt" && grep -q 'event: message_stop' "$WORK/probe.txt" &&
        grep -q '"text":"word ' "$WORK/probe.txt"; then ready=1; break; fi
    sleep 0.5
  done
  [[ -n "$ready" ]] || { echo "$mode: the bench channel never answered" >&2; tail "$WORK/$mode.log" >&2; exit 1; }
  set +e
  "$CLIENT" --port "$port" --key "$key" --model bench-model --streams "$STREAMS" \
    --deadline-seconds 170 --server-pid "$SERVER_PID" | tee "$WORK/$mode.txt"
  local rc=${PIPESTATUS[0]}
  set -e
  # CPU seconds (user + system) the gateway and the upstream spent so far.
  echo "  gateway CPU: $(cpu "$SERVER_PID") s; upstream CPU so far: $(up_cpu) s" | tee -a "$WORK/$mode.txt"
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
  # load_streams also fails when not all streams were open at once (time to first token
  # longer than a stream): only incomplete streams fail the bench.
  grep -q "complete streams.*: $STREAMS / $STREAMS" "$WORK/$mode.txt" ||
    { echo "$mode: not every stream completed (status $rc)" >&2; exit 1; }
}

echo "== plain http upstream =="
# 2,000 connections open at once: the upstream's accept and handshakes queue, so both runs allow
# a minute to connect (the default 10 s bounds TCP and TLS together).
run http "http://127.0.0.1:$HTTP_PORT/v1" '{"connect_timeout_ms":60000}'
echo "== https upstream (TLS on fibers) =="
run https "https://localhost:$HTTPS_PORT/v1" \
  "{\"connect_timeout_ms\":60000,\"options\":{\"ca_file\":\"$WORK/certs/ca.pem\"}}"

field() { sed -n "s/.*$2[^0-9]*\([0-9.]*\).*/\1/p" "$WORK/$1.txt" | head -n1; }
ttft() { sed -n "s/.*time to first token (ms): p50 \([0-9.]*\)  p99 \([0-9.]*\).*/\1 \2/p" "$WORK/$1.txt"; }
read -r h50 h99 <<<"$(ttft http)"
read -r s50 s99 <<<"$(ttft https)"
hr=$(field http 'server peak RSS (VmHWM):'); sr=$(field https 'server peak RSS (VmHWM):')
echo
echo "$STREAMS concurrent streams, $WORDS words $DELAY_MS ms apart (first word at once)"
printf '%-28s %12s %12s %8s\n' "" "http" "https" "ratio"
printf '%-28s %12s %12s\n' "server peak threads" "$(field http 'server peak threads (sampled):')" "$(field https 'server peak threads (sampled):')"
printf '%-28s %12s %12s %8s\n' "server peak RSS (MiB)" "$hr" "$sr" "$(awk -v a="$sr" -v b="$hr" 'BEGIN{printf "%.2f", a/b}')"
printf '%-28s %12s %12s\n' "time to first token p50 ms" "$h50" "$s50"
printf '%-28s %12s %12s\n' "time to first token p99 ms" "$h99" "$s99"
printf '%-28s %12s %12s\n' "gateway CPU s" "$(field http 'gateway CPU:')" "$(field https 'gateway CPU:')"
