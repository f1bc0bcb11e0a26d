#!/usr/bin/env bash
# A throwaway instance per engine for a large bench fleet (10,000 tenants), so that the
# machine's own servers, which the tests use, never hold it: stopping it removes the whole fleet
# at once. `start` creates and starts them and prints the variables that point the bench at them.
#
#   eval "$(bash bench/servers/fleet-server.sh start)"
#   node bench/run.mjs --only setup --keep --tenants 10000 --engines mysql
#   node bench/run.mjs --fleet-dir <dir it printed> --tenants 10000 --engines mysql --only migrate,stats
#   bash bench/servers/fleet-server.sh stop
set -u
ROOT=${TENANTCTL_BENCH_FLEET_SERVERS:-/tmp/tenantctl-bench-fleet}
. "$(dirname "$0")/instances.sh"

case "${1:-}" in
  start)
    mkdir -p "$ROOT"
    # The servers' defaults, as the machine's own have them (MariaDB: table_open_cache 2000,
    # table_definition_cache 400, a 128 MB buffer pool).
    pg_start 5492 >&2 || exit 1
    # Its temporary tables in its own directory: /tmp is every test's and every tool's.
    mkdir -p "$ROOT/my-3492/tmp" && chown mysql "$ROOT/my-3492" "$ROOT/my-3492/tmp"
    my_start 3492 --tmpdir="$ROOT/my-3492/tmp" >&2 || exit 1
    echo "export TENANTCTL_TEST_PG_URL=postgres://postgres@127.0.0.1:5492/postgres"
    echo "export TENANTCTL_TEST_MYSQL_URL=mysql://root@127.0.0.1:3492/mysql"
    ;;
  stop)
    stop_all
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
