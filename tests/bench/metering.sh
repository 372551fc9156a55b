#!/usr/bin/env bash
# What metering costs on the hot path: wrk against the demo chain with metering off and on,
# alternated (off, on, off, on) on one store so the machine's noise hits both alike.
#
#   bash tests/bench/metering.sh BUILD_DIR
#   bash tests/scripts/with_mariadb.sh bash tests/bench/metering.sh BUILD_DIR   # + DB round trips
#
# "on" = API key lookup with limits (IP allow-list, model patterns, RPM/TPM), a priced model,
# quota reserved and settled in the memory quota book, one usage row per request through the
# journal. "off" = `serve --metering off` (key lookup only). Under MariaDB (TIANSHU_TEST_DB_URL)
# the server's Questions counter is read around each run: statements per request show that the
# hot path makes no database round trip per request (only the batched journal writes).
# Prints RESULT lines; asserts nothing. Environment: DURATION (default 10s), CONNS (64).
set -euo pipefail

BUILD=${1:?usage: metering.sh BUILD_DIR}
BUILD=$(cd "$BUILD" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TIANSHU=$BUILD/tianshu
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[[ -x $TIANSHU ]] || { echo "$TIANSHU not found: build first (cmake --build $BUILD)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tianshu-metering.XXXXXX")
OUT=$BUILD/bench-results/metering
rm -rf "$OUT"; mkdir -p "$OUT"
SERVER_PID=
stop_server() {
  if [[ -n "$SERVER_PID" ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
trap 'stop_server; rm -rf "$WORK"' EXIT

DATA=$WORK/data
mkdir -p "$DATA"
STORE=(--data "$DATA")
DB_URL=${TIANSHU_TEST_DB_URL:-}
if [[ -n $DB_URL ]]; then STORE+=(--db "$DB_URL"); fi
questions() {  # the MariaDB server's statement counter, or empty under SQLite
  [[ -z $DB_URL ]] && return 0
  local rest=${DB_URL#mysql://} user pass hostport host port
  user=${rest%%:*}; rest=${rest#*:}; pass=${rest%%@*}; rest=${rest#*@}
  hostport=${rest%%/*}; host=${hostport%%:*}; port=${hostport##*:}
  # Plain statements and prepared-statement executions: every statement the server ran.
  mariadb -h "$host" -P "$port" -u "$user" -p"$pass" -N \
    -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('Questions', 'Com_stmt_execute')" |
    awk '{n += $2} END {print n}'
}

"$TIANSHU" user add --name bench "${STORE[@]}" >/dev/null
KEY=$("$TIANSHU" key create --user bench --name wrk --allow-ip 127.0.0.1/32 --models 'claude-*' \
      --rpm 100000000 --tpm 2000000000 "${STORE[@]}" | tail -n1)
"$TIANSHU" price set --model 'claude-*' --input 1 --output 2 "${STORE[@]}" >/dev/null
"$TIANSHU" user topup --user bench --amount 1000000 "${STORE[@]}" >/dev/null

cat >"$OUT/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-api-key"] = "$KEY"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.body = '{"model":"claude-sonnet-4-5","max_tokens":100,"messages":[{"role":"user","content":"Hello! What can you do?"}]}'
LUA

declare -a RESULTS=()
run() {
  local mode=$1 round=$2
  "$TIANSHU" serve "${STORE[@]}" --listen 127.0.0.1:0 --plugins-dir "$BUILD/plugins" \
    --scripts-dir "$ROOT/scripts" --metering "$mode" >"$WORK/stdout" 2>"$WORK/stderr.$mode.$round" &
  SERVER_PID=$!
  local port=
  for _ in $(seq 1 300); do
    port=$(sed -n 's|.*"listen":"127\.0\.0\.1:\([0-9]*\)".*|\1|p' "$WORK/stderr.$mode.$round" | head -n1)
    [[ -n $port ]] && break
    sleep 0.1
  done
  [[ -n $port ]] || { echo "server did not start:"; cat "$WORK/stderr.$mode.$round"; exit 1; } >&2
  curl -sS -o /dev/null --max-time 10 "http://127.0.0.1:$port/v1/messages" -H "x-api-key: $KEY" \
    -H 'content-type: application/json' \
    -d '{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}'
  local q0 q1 cmd=(wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "$OUT/post.lua" "http://127.0.0.1:$port/v1/messages")
  q0=$(questions)
  "${cmd[@]}" >"$OUT/$mode.$round.txt"
  q1=$(questions)
  stop_server
  local rps non2xx per="" p50
  rps=$(awk '/^Requests\/sec:/{print $2}' "$OUT/$mode.$round.txt")
  p50=$(awk '/^    Latency/{print $2}' "$OUT/$mode.$round.txt")
  non2xx=$(awk '/Non-2xx or 3xx responses:/{print $NF}' "$OUT/$mode.$round.txt"); non2xx=${non2xx:-0}
  local total; total=$(awk '/requests in/{print $1}' "$OUT/$mode.$round.txt")
  if [[ -n $q0 && -n $q1 && ${total:-0} -gt 0 ]]; then
    per=" db_statements_per_request=$(awk -v a="$q0" -v b="$q1" -v n="$total" 'BEGIN{printf "%.4f", (b-a)/n}')"
  fi
  local line="RESULT metering=$mode round=$round rps=$rps avg_latency=$p50 requests=$total non2xx=$non2xx$per"
  echo "$line   # ${cmd[*]}"
  RESULTS+=("$line")
}

echo "metering bench: $(nproc) cores, store: $([[ -n $DB_URL ]] && echo MariaDB || echo SQLite), $CONNS connections, $DURATION per run"
[[ -n $DB_URL ]] && echo "db_statements_per_request counts every statement the database ran during the run; with metering on they come from the journal's batch writer thread (one transaction per batch of up to 500 records), never from a request thread"
for round in 1 2; do run off "$round"; run on "$round"; done
awk '/metering=off/{for(i=1;i<=NF;i++) if($i ~ /^rps=/){sub("rps=","",$i); off+=$i; n++}}
     /metering=on/{for(i=1;i<=NF;i++) if($i ~ /^rps=/){sub("rps=","",$i); on+=$i; m++}}
     END{printf "SUMMARY on/off throughput ratio = %.3f (mean rps off %.0f, on %.0f)\n", (on/m)/(off/n), off/n, on/m}' \
  <(printf '%s\n' "${RESULTS[@]}")
echo "command: bash tests/bench/metering.sh $BUILD"
