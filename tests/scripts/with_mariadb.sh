#!/usr/bin/env bash
# with_mariadb.sh CMD [ARGS...]
#
# Runs CMD against a throwaway MariaDB server: a fresh data directory in a temp dir, a free
# TCP port on 127.0.0.1 (searched from 33060 upward), a user `tianshu` with a random password.
# CMD sees TIANSHU_TEST_DB_URL=mysql://tianshu:PW@127.0.0.1:PORT/tianshu_test. The server is
# stopped and the temp dir removed on exit; the script exits with CMD's status.
# Needs no running MariaDB service and no systemd; installs mariadb-server when missing.
# Safe to run several at once (each has its own dir, socket and port).
set -euo pipefail

if [[ $# -eq 0 ]]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi

log() { echo "with_mariadb: $*" >&2; }

TMP_PREFIX=tianshu-mariadb
STOP_TRIES=300
# shellcheck source=throwaway_server.sh
source "$(dirname "${BASH_SOURCE[0]}")/throwaway_server.sh"

MARIADBD=$(find_tool mariadbd mysqld || true)
if [[ -z "$MARIADBD" ]]; then
  log "mariadbd not found: installing mariadb-server with apt-get"
  install_package mariadb-server mariadb-client
  MARIADBD=$(find_tool mariadbd mysqld)
fi
INSTALL_DB=$(find_tool mariadb-install-db mysql_install_db)
CLIENT=$(find_tool mariadb mysql)
ADMIN=$(find_tool mariadb-admin mysqladmin)


# mariadbd refuses to run as root unless told which user to run as.
RUN_AS=()
if [[ $(id -u) -eq 0 ]]; then RUN_AS=(--user=root); fi

log "initialising a data directory in $TMP"
if ! "$INSTALL_DB" --no-defaults "${RUN_AS[@]}" --datadir="$TMP/data" --auth-root-authentication-method=normal \
       --skip-test-db --skip-name-resolve >"$TMP/install.log" 2>&1; then
  cat "$TMP/install.log" >&2
  log "mariadb-install-db failed"
  exit 1
fi


PORT=33060
STARTED=0
for _attempt in $(seq 1 20); do
  while port_in_use "$PORT"; do PORT=$((PORT + 1)); done
  "$MARIADBD" --no-defaults "${RUN_AS[@]}" --datadir="$TMP/data" --socket="$TMP/sock" --port="$PORT" \
    --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$TMP/mariadbd.pid" --log-error="$TMP/error.log" \
    --tmpdir="$TMP" --innodb-buffer-pool-size=32M --innodb-log-file-size=16M --innodb-flush-log-at-trx-commit=2 \
    --innodb-doublewrite=0 --skip-log-bin --max-connections=200 &
  SERVER_PID=$!
  # Stop the server even if this script is killed with SIGKILL (ctest timeout).
  if [[ -z "$WATCHDOG_PID" ]]; then
    ( while kill -0 $$ 2>/dev/null; do sleep 1; done; [[ -f "$TMP/mariadbd.pid" ]] && kill "$(cat "$TMP/mariadbd.pid")" 2>/dev/null ) &
    WATCHDOG_PID=$!
  fi
  for _ in $(seq 1 600); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    if "$ADMIN" --no-defaults --socket="$TMP/sock" -uroot --connect-timeout=2 ping >/dev/null 2>&1; then
      STARTED=1
      break
    fi
    sleep 0.1
  done
  if [[ $STARTED -eq 1 ]]; then break; fi
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    log "mariadbd did not become ready within 60 s"; tail -n 30 "$TMP/error.log" >&2 || true; exit 1
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
  if grep -q -i "address already in use\|Can't start server: Bind" "$TMP/error.log" 2>/dev/null; then
    log "port $PORT was taken meanwhile; trying the next one"
    : >"$TMP/error.log"
    PORT=$((PORT + 1))
    continue
  fi
  log "mariadbd failed to start"; tail -n 30 "$TMP/error.log" >&2 || true; exit 1
done
if [[ $STARTED -ne 1 ]]; then log "no free port found from 33060 upward"; exit 1; fi

PASSWORD=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 24)
"$CLIENT" --no-defaults --socket="$TMP/sock" -uroot <<SQL
CREATE USER 'tianshu'@'127.0.0.1' IDENTIFIED BY '$PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'tianshu'@'127.0.0.1' WITH GRANT OPTION;
CREATE DATABASE tianshu_test CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
FLUSH PRIVILEGES;
SQL

export TIANSHU_TEST_DB_URL="mysql://tianshu:$PASSWORD@127.0.0.1:$PORT/tianshu_test"
log "MariaDB ready on 127.0.0.1:$PORT; running: $*"
set +e
"$@"
STATUS=$?
set -e
exit "$STATUS"
