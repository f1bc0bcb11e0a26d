import knexFactory, { type Knex } from 'knex';

/** Probes expect failures: knex need not print them. */
const log = { warn() {}, error() {}, deprecate() {}, debug() {} };

type NetworkEngine = 'postgres' | 'mysql';

function connectionFor(url: string, database?: string) {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port),
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: database ?? (u.pathname.slice(1) || undefined),
  };
}

const clientOf = (engine: NetworkEngine) => (engine === 'postgres' ? 'pg' : 'mysql2');

/**
 * Holds an exclusive lock on one table of a database, as a long transaction of the application
 * would, until `release`: whatever tenantctl does to that table (a migration, a dump or its row
 * count) waits behind it. This is how a test stops a fleet run at a known tenant, with no hook in
 * tenantctl: the run is really waiting on the server, exactly as it would in production.
 */
export async function holdTableLock(
  engine: NetworkEngine,
  serverUrl: string,
  database: string,
  table: string,
): Promise<{ release(): Promise<void> }> {
  // One connection: MySQL's LOCK TABLES belongs to the session that took it.
  const knex = knexFactory({
    client: clientOf(engine),
    connection: connectionFor(serverUrl, database),
    pool: { min: 1, max: 1 },
    log,
  });
  if (engine === 'postgres') {
    const trx = await knex.transaction();
    await trx.raw(`lock table "${table}" in access exclusive mode`);
    return {
      release: async () => {
        await trx.commit().catch(() => undefined);
        await knex.destroy();
      },
    };
  }
  await knex.raw(`lock tables \`${table}\` write`);
  return {
    release: async () => {
      await knex.raw('unlock tables').catch(() => undefined);
      await knex.destroy();
    },
  };
}

/** How many sessions are waiting for a table lock in `database` right now (PostgreSQL) or on its tables (MySQL). */
export async function lockWaiters(engine: NetworkEngine, serverUrl: string, database: string): Promise<number> {
  const knex = knexFactory({
    client: clientOf(engine),
    connection: connectionFor(serverUrl),
    pool: { min: 0, max: 1 },
    log,
  });
  try {
    if (engine === 'postgres') {
      const result = await knex.raw(
        "select count(*) as n from pg_stat_activity where datname = ? and wait_event_type = 'Lock'",
        [database],
      );
      return Number(result.rows[0].n);
    }
    // A session waiting on a metadata lock: on the tenant database itself, or naming it (an admin's count).
    const [rows] = await knex.raw(
      "select count(*) as n from information_schema.processlist where state like 'Waiting for table metadata lock' and (db = ? or info like ?)",
      [database, `%${database}%`],
    );
    return Number(rows[0].n);
  } finally {
    await knex.destroy();
  }
}

/** A knex with the admin credentials of `serverUrl` on `database`. */
export function adminOn(engine: NetworkEngine, serverUrl: string, database?: string): Knex {
  return knexFactory({
    client: clientOf(engine),
    connection: connectionFor(serverUrl, database),
    pool: { min: 0, max: 1 },
    log,
  });
}
