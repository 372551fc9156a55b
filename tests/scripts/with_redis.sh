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

TMP_PREFIX=tianshu-redis
STOP_TRIES=100
# shellcheck source=throwaway_server.sh
source "$(dirname "${BASH_SOURCE[0]}")/throwaway_server.sh"

REDIS_SERVER=$(find_tool redis-server || true)
if [[ -z "$REDIS_SERVER" ]]; then
  log "redis-server not found: installing redis-server with apt-get"
  install_package redis-server
  REDIS_SERVER=$(find_tool redis-server)
fi
REDIS_CLI=$(find_tool redis-cli)



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
