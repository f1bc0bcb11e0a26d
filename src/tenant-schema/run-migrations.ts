import type { Knex } from 'knex';
import type { DirectoryMigrationSource } from './migration-source.js';
import { withExitGuard } from './exit-guard.js';
import { DEFAULT_MIGRATIONS_TABLE, type MigrationSettings } from './tenant-project.js';

/** The table Knex keeps in every tenant database by default, so the knex CLI agrees. */
export const TENANT_MIGRATIONS_TABLE = DEFAULT_MIGRATIONS_TABLE;

/** What knex's migrator is given: tenantctl's source, the table (and options) the knexfile names. */
export function migratorConfig(
  source: DirectoryMigrationSource,
  settings: MigrationSettings = { tableName: DEFAULT_MIGRATIONS_TABLE },
): Knex.MigratorConfig {
  return { ...settings, migrationSource: source };
}

/** Brings one tenant database to the latest migration; returns the names applied. */
export async function migrateToLatest(
  knex: Knex,
  source: DirectoryMigrationSource,
  settings?: MigrationSettings,
): Promise<string[]> {
  return runMigrator(knex, source, 'up', settings);
}

/**
 * Runs knex's migrator up (latest) or down (rollback of the last batch); returns the names.
 * Callers hold tenantctl's own lock, so a knex lock row found set was left by a killed run: it
 * is freed and the run retried once, instead of failing until someone unlocks by hand. Costs
 * nothing when the lock is free.
 */
export async function runMigrator(
  knex: Knex,
  source: DirectoryMigrationSource,
  direction: 'up' | 'down',
  settings?: MigrationSettings,
): Promise<string[]> {
  const config = migratorConfig(source, settings);
  const run = async () =>
    (
      (direction === 'up' ? await knex.migrate.latest(config) : await knex.migrate.rollback(config)) as [
        number,
        string[],
      ]
    )[1];
  return withExitGuard(async () => {
    try {
      return await run();
    } catch (error) {
      if ((error as Error).name !== 'MigrationLocked') throw error;
      await knex.migrate.forceFreeMigrationsLock(config);
      return run();
    }
  });
}

/** Pending = available but not applied; unknown = applied but no longer in the directory. */
export function planMigrations(
  available: string[],
  applied: string[] | null,
): { pending: string[]; unknown: string[] } {
  const done = new Set(applied ?? []);
  const known = new Set(available);
  return { pending: available.filter((n) => !done.has(n)), unknown: (applied ?? []).filter((n) => !known.has(n)) };
}

export { migrationFingerprint } from './migration-fingerprint.js';
