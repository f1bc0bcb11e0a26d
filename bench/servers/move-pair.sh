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
. "$(dirname "$0")/instances.sh"

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
    stop_all
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
