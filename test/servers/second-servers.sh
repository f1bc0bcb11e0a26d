#!/usr/bin/env bash
# The second PostgreSQL cluster (127.0.0.1:5433) and second MariaDB (127.0.0.1:3307) that the
# multi-server tests use. Creates them when missing and starts them when stopped; never touches
# the main instances. Usage: second-servers.sh start | stop-postgres | stop-mysql
# Used by .ci/run and by the test setup (test/helpers/global-setup.ts).
#
# Both run with TLS on (a test CA and a server certificate for localhost/127.0.0.1, made once by
# tls-certs.sh into $TLS_DIR) while plain connections keep working for every other test; each has
# one login that only TLS lets in (PostgreSQL: role tenantctl_tls_only, refused by pg_hba without
# TLS; MariaDB: tenantctl_tls_only REQUIRE SSL). `start` turns TLS on where it is off: PostgreSQL by
# a conf.d file and a reload; MariaDB (TLS is fixed at startup) by a restart with --ssl-* options,
# only when it runs without them.
# The ports and places can be overridden (SECOND_PG_PORT, SECOND_PG_CLUSTER, SECOND_MY_PORT,
# SECOND_MY_DIR, SECOND_TLS_DIR) to try this script on instances of one's own.
set -euo pipefail

PG_PORT=${SECOND_PG_PORT:-5433}
PG_CLUSTER=${SECOND_PG_CLUSTER:-second}
MY_PORT=${SECOND_MY_PORT:-3307}
MY_DIR=${SECOND_MY_DIR:-/var/lib/tenantctl-test-mariadb}
TLS_DIR=${SECOND_TLS_DIR:-/var/lib/tenantctl-test-tls}
PG_VERSION=$(ls /etc/postgresql | sort -V | tail -n 1)
PG_CONF="/etc/postgresql/$PG_VERSION/$PG_CLUSTER"
HERE=$(cd "$(dirname "$0")" && pwd)

wait_for() { # what, command
  for _ in $(seq 1 120); do eval "$2" >/dev/null 2>&1 && return 0; sleep 0.25; done
  echo "$1 did not come up" >&2
  return 1
}

# The test CA and server certificate (idempotent), and copies of the server's files owned by the
# user of each server, which refuses a key others can read.
make_certs() {
  bash "$HERE/tls-certs.sh" "$TLS_DIR"
  for owner in postgres mysql; do
    mkdir -p "$TLS_DIR/$owner"
    for f in server.crt server.key ca.crt; do
      cmp -s "$TLS_DIR/$f" "$TLS_DIR/$owner/$f" || cp "$TLS_DIR/$f" "$TLS_DIR/$owner/$f"
    done
    chown -R "$owner:" "$TLS_DIR/$owner"
    chmod 0700 "$TLS_DIR/$owner"
    chmod 0600 "$TLS_DIR/$owner/server.key"
  done
}

# The pg_hba.conf the cluster runs with: trusted local TCP logins, as the main test cluster has,
# except tenantctl_tls_only, whom only TLS lets in.
PG_HBA='hostnossl all tenantctl_tls_only 127.0.0.1/32 reject
hostssl all all 127.0.0.1/32 trust
host all all 127.0.0.1/32 trust
local all all trust'

# TLS on the running cluster: a conf.d file and the pg_hba above, then a reload (sessions stay).
postgres_tls() {
  local conf="$PG_CONF/conf.d/tenantctl-tls.conf" changed=
  local want="ssl = on
ssl_cert_file = '$TLS_DIR/postgres/server.crt'
ssl_key_file = '$TLS_DIR/postgres/server.key'
ssl_ca_file = '$TLS_DIR/postgres/ca.crt'"
  mkdir -p "$PG_CONF/conf.d"
  if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then printf '%s\n' "$want" >"$conf"; changed=1; fi
  if [ "$(cat "$PG_CONF/pg_hba.conf")" != "$PG_HBA" ]; then
    printf '%s\n' "$PG_HBA" >"$PG_CONF/pg_hba.conf.new"
    mv "$PG_CONF/pg_hba.conf.new" "$PG_CONF/pg_hba.conf"
    changed=1
  fi
  if [ -n "$changed" ]; then pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" reload; fi
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAq -c "do \$\$ begin
    if not exists (select from pg_roles where rolname = 'tenantctl_tls_only') then
      create role tenantctl_tls_only login createdb createrole;
    end if; end \$\$"
  wait_for "PostgreSQL TLS on $PG_PORT" \
    "psql 'postgresql://tenantctl_tls_only@localhost:$PG_PORT/postgres?sslmode=verify-full&sslrootcert=$TLS_DIR/ca.crt' -tAc 'select 1'"
}

start_postgres() {
  if ! pg_isready -h 127.0.0.1 -p "$PG_PORT" -q; then
    if [ ! -d "$PG_CONF" ]; then
      pg_createcluster "$PG_VERSION" "$PG_CLUSTER" -p "$PG_PORT" >/dev/null
      printf '%s\n' "$PG_HBA" >"$PG_CONF/pg_hba.conf"
    fi
    pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" start
    wait_for "PostgreSQL on $PG_PORT" "psql -h 127.0.0.1 -p $PG_PORT -U postgres -tAc 'select 1'"
  fi
  postgres_tls
}

# mariadb-install-db creates anonymous accounts (''@localhost, ''@<hostname>); a login over TCP on
# 127.0.0.1 matches them before 'user'@'%', so tenant users could not log in (the main instance has none).
drop_anonymous_mysql_users() {
  mariadb -h 127.0.0.1 -P "$MY_PORT" -u root -e "drop user if exists ''@'localhost', ''@'$(hostname)'"
}

# The TLS-only login (idempotent).
mysql_tls_user() {
  mariadb -h 127.0.0.1 -P "$MY_PORT" -u root -e "create user if not exists 'tenantctl_tls_only'@'%' require ssl;
    grant all privileges on *.* to 'tenantctl_tls_only'@'%' with grant option"
}

start_mysql() {
  if mariadb-admin -h 127.0.0.1 -P "$MY_PORT" -u root ping >/dev/null 2>&1; then
    if [ "$(mariadb -h 127.0.0.1 -P "$MY_PORT" -u root -Ne 'select @@have_ssl')" = YES ]; then
      drop_anonymous_mysql_users
      mysql_tls_user
      return 0
    fi
    # Started without TLS (before this script turned it on): TLS is fixed at startup, so restart.
    mariadb-admin -h 127.0.0.1 -P "$MY_PORT" -u root shutdown
    wait_for "MariaDB on $MY_PORT to stop" "! mariadb-admin -h 127.0.0.1 -P $MY_PORT -u root ping"
  fi
  if [ ! -d "$MY_DIR/mysql" ]; then
    mkdir -p "$MY_DIR"
    chown mysql:mysql "$MY_DIR"
    mariadb-install-db --user=mysql --datadir="$MY_DIR" --auth-root-authentication-method=normal >/dev/null
  fi
  # start-stop-daemon refuses a second mariadbd, so it is started directly, in the background.
  nohup /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$MY_DIR" --port="$MY_PORT" \
    --socket="$MY_DIR/mysqld.sock" --pid-file="$MY_DIR/mysqld.pid" --bind-address=127.0.0.1 \
    --log-error="$MY_DIR/error.log" --ssl-ca="$TLS_DIR/mysql/ca.crt" --ssl-cert="$TLS_DIR/mysql/server.crt" \
    --ssl-key="$TLS_DIR/mysql/server.key" >/dev/null 2>&1 &
  wait_for "MariaDB on $MY_PORT" "mariadb -h 127.0.0.1 -P $MY_PORT -u root -e 'select 1'"
  drop_anonymous_mysql_users
  mysql_tls_user
}

case "${1:-start}" in
  start) make_certs; start_postgres; start_mysql ;;
  stop-postgres) pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" stop -m fast ;;
  stop-mysql) mariadb-admin -h 127.0.0.1 -P "$MY_PORT" -u root shutdown ;;
  *) echo "usage: $0 start | stop-postgres | stop-mysql" >&2; exit 2 ;;
esac
