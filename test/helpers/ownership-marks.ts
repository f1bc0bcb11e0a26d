import type { TestEngine } from './engines.js';
import type { ServerProbe } from './server-probe.js';

/**
 * Reads and writes the registry ownership mark where each engine keeps it (README "Ownership
 * marks"), with plain queries independent of tenantctl's drivers: PostgreSQL the database
 * comment, MySQL/MariaDB the comment of table `tenantctl_owner`, SQLite its one row.
 */
export async function readMark(engine: TestEngine, probe: ServerProbe, database: string): Promise<string | null> {
  const knex = probe.admin(database);
  try {
    if (engine === 'postgres') {
      const result = await knex.raw(
        "select pg_catalog.shobj_description(oid, 'pg_database') as c from pg_database where datname = ?",
        [database],
      );
      return /tenantctl:owner=([0-9a-f]{32})/.exec(result.rows[0]?.c ?? '')?.[1] ?? null;
    }
    if (engine === 'mysql') {
      const [rows] = await knex.raw(
        "select table_comment as c from information_schema.tables where table_schema = ? and table_name = 'tenantctl_owner'",
        [database],
      );
      return /tenantctl:owner=([0-9a-f]{32})/.exec(rows[0]?.c ?? '')?.[1] ?? null;
    }
    if (!(await knex.schema.hasTable('tenantctl_owner'))) return null;
    return ((await knex('tenantctl_owner').first('registry')) as { registry: string } | undefined)?.registry ?? null;
  } finally {
    await knex.destroy();
  }
}

/** Gives `database` the mark `mark` (null: takes it away), as a registry (or an operator) would. */
export async function writeMark(
  engine: TestEngine,
  probe: ServerProbe,
  database: string,
  mark: string | null,
): Promise<void> {
  const knex = probe.admin(database);
  try {
    if (engine === 'postgres') {
      await knex.raw(`comment on database "${database}" is ${mark ? `'tenantctl:owner=${mark}'` : 'null'}`);
    } else if (engine === 'mysql') {
      await knex.raw('drop table if exists tenantctl_owner');
      if (mark) await knex.raw(`create table tenantctl_owner (registry char(32)) comment = 'tenantctl:owner=${mark}'`);
    } else {
      await knex.schema.dropTableIfExists('tenantctl_owner');
      if (mark) {
        await knex.schema.createTable('tenantctl_owner', (t) => t.text('registry').primary());
        await knex('tenantctl_owner').insert({ registry: mark });
      }
    }
  } finally {
    await knex.destroy();
  }
}
