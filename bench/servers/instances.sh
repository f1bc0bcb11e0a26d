# Throwaway PostgreSQL and MariaDB instances under $ROOT for the bench (sourced by the scripts
# beside it, which set ROOT). Never touches the machine's own servers.
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

# Stops every instance under $ROOT and removes them.
stop_all() {
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
}
