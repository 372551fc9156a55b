#!/usr/bin/env bash
# with_redis.sh CMD [ARGS...]
#
# Runs CMD against a throwaway Redis server: a temp dir as its working dir, no persistence, a
# free TCP port on 127.0.0.1 (searched from 16379 upward). CMD sees
# TIANSHU_TEST_REDIS_URL=redis://127.0.0.1:PORT. The server is stopped and the temp dir removed
# on exit; the script exits with CMD's status.
# Needs no running Redis service and no systemd; installs redis-server when missing.
# Safe to run several at once (each has its own dir and port).
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

log() { echo "with_redis: $*" >&2; }

find_tool() {
  local name
  for name in "$@"; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
    for dir in /usr/sbin /usr/bin /usr/local/sbin /usr/local/bin; do
      if [[ -x "$dir/$name" ]]; then echo "$dir/$name"; return 0; fi
    done
  done
  return 1
}

REDIS_SERVER=$(find_tool redis-server || true)
if [[ -z "$REDIS_SERVER" ]]; then
  log "redis-server not found: installing redis-server with apt-get"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server >&2
  REDIS_SERVER=$(find_tool redis-server)
fi
REDIS_CLI=$(find_tool redis-cli)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tianshu-redis.XXXXXX")
SERVER_PID=""
WATCHDOG_PID=""

stop_server() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}

cleanup() {
  local status=$?
  stop_server
  if [[ -n "$WATCHDOG_PID" ]]; then kill "$WATCHDOG_PID" 2>/dev/null || true; wait "$WATCHDOG_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

PORT=16379
STARTED=0
for _attempt in $(seq 1 20); do
  while port_in_use "$PORT"; do PORT=$((PORT + 1)); done
  : >"$TMP/redis.log"
  # No RDB snapshots, no AOF: the data lives only as long as the test run.
  "$REDIS_SERVER" --port "$PORT" --bind 127.0.0.1 --dir "$TMP" --save "" --appendonly no \
    --daemonize no --logfile "$TMP/redis.log" --pidfile "$TMP/redis.pid" --protected-mode yes &
  SERVER_PID=$!
  # Stop the server even if this script is killed with SIGKILL (ctest timeout).
  if [[ -z "$WATCHDOG_PID" ]]; then
    ( while kill -0 $$ 2>/dev/null; do sleep 1; done; [[ -f "$TMP/redis.pid" ]] && kill "$(cat "$TMP/redis.pid")" 2>/dev/null ) &
    WATCHDOG_PID=$!
  fi
  for _ in $(seq 1 100); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    if [[ "$("$REDIS_CLI" -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" == "PONG" ]]; then
      STARTED=1
      break
    fi
    sleep 0.1
  done
  if [[ $STARTED -eq 1 ]]; then break; fi
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    log "redis-server did not become ready within 10 s"; tail -n 30 "$TMP/redis.log" >&2 || true; exit 1
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  if grep -q -i "address already in use" "$TMP/redis.log" 2>/dev/null; then
    log "port $PORT was taken meanwhile; trying the next one"
    PORT=$((PORT + 1))
    continue
  fi
  log "redis-server failed to start"; tail -n 30 "$TMP/redis.log" >&2 || true; exit 1
done
if [[ $STARTED -ne 1 ]]; then log "no free port found from 16379 upward"; exit 1; fi

export TIANSHU_TEST_REDIS_URL="redis://127.0.0.1:$PORT"
log "Redis ready on 127.0.0.1:$PORT; running: $*"
set +e
"$@"
STATUS=$?
set -e
exit "$STATUS"
