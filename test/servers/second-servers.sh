#!/usr/bin/env bash
# The second PostgreSQL cluster (127.0.0.1:5433) and second MariaDB (127.0.0.1:3307) that the
# multi-server tests use. Creates them when missing and starts them when stopped; never touches
# the main instances. Usage: second-servers.sh start | stop-postgres | stop-mysql
# Used by .ci/run and by the test setup (test/helpers/global-setup.ts).
set -euo pipefail

PG_PORT=5433
MY_PORT=3307
MY_DIR=/var/lib/tenantctl-test-mariadb
PG_VERSION=$(ls /etc/postgresql | sort -V | tail -n 1)

wait_for() { # what, command
  for _ in $(seq 1 120); do eval "$2" >/dev/null 2>&1 && return 0; sleep 0.25; done
  echo "$1 did not come up" >&2
  return 1
}

start_postgres() {
  if pg_isready -h 127.0.0.1 -p "$PG_PORT" -q; then return 0; fi
  if [ ! -d "/etc/postgresql/$PG_VERSION/second" ]; then
    pg_createcluster "$PG_VERSION" second -p "$PG_PORT" >/dev/null
    # Trust local TCP logins, as the main test cluster does.
    echo 'host all all 127.0.0.1/32 trust' >"/etc/postgresql/$PG_VERSION/second/pg_hba.conf.new"
    echo 'local all all trust' >>"/etc/postgresql/$PG_VERSION/second/pg_hba.conf.new"
    mv "/etc/postgresql/$PG_VERSION/second/pg_hba.conf.new" "/etc/postgresql/$PG_VERSION/second/pg_hba.conf"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" second start
  wait_for "PostgreSQL on $PG_PORT" "psql -h 127.0.0.1 -p $PG_PORT -U postgres -tAc 'select 1'"
}

# mariadb-install-db creates anonymous accounts (''@localhost, ''@<hostname>); a login over TCP on
# 127.0.0.1 matches them before 'user'@'%', so tenant users could not log in (the main instance has none).
drop_anonymous_mysql_users() {
  mariadb -h 127.0.0.1 -P "$MY_PORT" -u root -e "drop user if exists ''@'localhost', ''@'$(hostname)'"
}

start_mysql() {
  if mariadb-admin -h 127.0.0.1 -P "$MY_PORT" -u root ping >/dev/null 2>&1; then drop_anonymous_mysql_users; return 0; fi
  if [ ! -d "$MY_DIR/mysql" ]; then
    mkdir -p "$MY_DIR"
    chown mysql:mysql "$MY_DIR"
    mariadb-install-db --user=mysql --datadir="$MY_DIR" --auth-root-authentication-method=normal >/dev/null
  fi
  # start-stop-daemon refuses a second mariadbd, so it is started directly, in the background.
  nohup /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$MY_DIR" --port="$MY_PORT" \
    --socket="$MY_DIR/mysqld.sock" --pid-file="$MY_DIR/mysqld.pid" --bind-address=127.0.0.1 \
    --log-error="$MY_DIR/error.log" >/dev/null 2>&1 &
  wait_for "MariaDB on $MY_PORT" "mariadb -h 127.0.0.1 -P $MY_PORT -u root -e 'select 1'"
  drop_anonymous_mysql_users
}

case "${1:-start}" in
  start) start_postgres; start_mysql ;;
  stop-postgres) pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" second stop -m fast ;;
  stop-mysql) mariadb-admin -h 127.0.0.1 -P "$MY_PORT" -u root shutdown ;;
  *) echo "usage: $0 start | stop-postgres | stop-mysql" >&2; exit 2 ;;
esac
