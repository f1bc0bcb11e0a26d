import { existsSync } from 'node:fs';

/** The real dump tool of each server engine, for the fixture wrappers that call it (REAL_DUMP_TOOL). */
export const REAL_DUMP = {
  postgres: 'pg_dump',
  mysql: existsSync('/usr/bin/mariadb-dump') ? '/usr/bin/mariadb-dump' : 'mysqldump',
} as const;

/** The variable that points tenantctl at another dump tool, per server engine. */
export const DUMP_ENV = { postgres: 'TENANTCTL_PG_DUMP', mysql: 'TENANTCTL_MYSQL_DUMP' } as const;
