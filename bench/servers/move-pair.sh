#!/usr/bin/env bash
# Two throwaway instances of each engine for `npm run bench -- --only move`: a source configured
# as an online move's source (PostgreSQL wal_level = logical; MariaDB binlog in ROW format with a
# server id) and a plain target. `start` creates and starts them and prints the variables that
# point the bench at them; `stop` stops and removes them. Never touches the machine's own servers.
#
#   eval "$(bash bench/servers/move-pair.sh start)"
#   node bench/run.mjs --only move --engines pg --tenants 5 --move-gb 1
#   bash bench/servers/move-pair.sh stop
set -u
ROOT=${TENANTCTL_BENCH_SERVERS:-/tmp/tenantctl-bench-move}
PG_BIN=/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -n | tail -n 1)/bin

pg_start() { # port, extra settings…
  local port=$1 dir=$ROOT/pg-$1
  shift
  if [ ! -d "$dir/data" ]; then
    mkdir -p "$dir" && chown postgres "$dir"
    runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres --no-sync >/dev/null || return 1
    printf '%s\n' "port = $port" "listen_addresses = '127.0.0.1'" "unix_socket_directories = '$dir'" \
      "max_connections = 200" "$@" >>"$dir/data/postgresql.conf"
  fi
  runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 ||
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w start >/dev/null
}

my_start() { # port, extra options…
  local port=$1 dir=$ROOT/my-$1
  shift
  if [ ! -d "$dir/data" ]; then
    mkdir -p "$dir" && chown mysql "$dir"
    mariadb-install-db --user=mysql --datadir="$dir/data" --auth-root-authentication-method=normal \
      --skip-test-db >/dev/null || return 1
  fi
  mariadb -h 127.0.0.1 -P "$port" -u root -e 'select 1' >/dev/null 2>&1 && return 0
  start-stop-daemon --start --background --chuid mysql --pidfile "$dir/mysqld.pid" --exec /usr/sbin/mariadbd -- --no-defaults \
    --datadir="$dir/data" --port="$port" --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" \
    --bind-address=127.0.0.1 --log-error="$dir/error.log" --skip-name-resolve --max-connections=300 "$@"
  for _ in $(seq 1 60); do
    mariadb -h 127.0.0.1 -P "$port" -u root -e 'select 1' >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "MariaDB on $port did not come up (see $dir/error.log)" >&2
  return 1
}

case "${1:-}" in
  start)
    mkdir -p "$ROOT"
    pg_start 5490 'wal_level = logical' 'max_replication_slots = 20' 'max_wal_senders = 20' >&2 || exit 1
    pg_start 5491 'max_logical_replication_workers = 20' 'max_worker_processes = 30' >&2 || exit 1
    my_start 3490 --log-bin="$ROOT/my-3490/binlog" --binlog-format=ROW --server-id=90 >&2 || exit 1
    my_start 3491 --server-id=91 >&2 || exit 1
    echo "export TENANTCTL_TEST_PG_URL=postgres://postgres@127.0.0.1:5490/postgres"
    echo "export TENANTCTL_TEST_PG2_URL=postgres://postgres@127.0.0.1:5491/postgres"
    echo "export TENANTCTL_TEST_MYSQL_URL=mysql://root@127.0.0.1:3490/mysql"
    echo "export TENANTCTL_TEST_MYSQL2_URL=mysql://root@127.0.0.1:3491/mysql"
    ;;
  stop)
    for dir in "$ROOT"/pg-*; do
      [ -d "$dir/data" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1
    done
    for dir in "$ROOT"/my-*; do
      [ -f "$dir/mysqld.pid" ] || continue
      pid=$(cat "$dir/mysqld.pid")
      kill "$pid" 2>/dev/null
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    done
    rm -rf "$ROOT"
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
