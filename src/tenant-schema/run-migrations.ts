import type { Knex } from 'knex';
import type { DirectoryMigrationSource } from './migration-source.js';

/** The table Knex keeps in every tenant database; the default name, so the knex CLI agrees. */
export const TENANT_MIGRATIONS_TABLE = 'knex_migrations';

export function migratorConfig(source: DirectoryMigrationSource): Knex.MigratorConfig {
  return { migrationSource: source, tableName: TENANT_MIGRATIONS_TABLE };
}

/** Brings one tenant database to the latest migration; returns the names applied. */
export async function migrateToLatest(knex: Knex, source: DirectoryMigrationSource): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest(migratorConfig(source))) as [number, string[]];
  return applied;
}
