import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Knex } from 'knex';
import type { Config } from '../config/config-keys.js';
import { UsageError } from '../core/errors.js';
import { knexClientName } from '../engines/descriptors.js';
import type { MigrationTable } from '../engines/engine-driver.js';
import { readKnexfile, type KnexfileSettings } from './knexfile.js';
import { DirectoryMigrationSource } from './migration-source.js';
import { projectKnex, type ProjectKnex } from './project-knex.js';

/** The table Knex keeps in every tenant database unless the knexfile names another. */
export const DEFAULT_MIGRATIONS_TABLE = 'knex_migrations';

/** How migrations are run and where their table is: the knexfile's settings, or knex's defaults. */
export interface MigrationSettings {
  tableName: string;
  schemaName?: string;
  disableTransactions?: boolean;
}

/**
 * The tenant schema as a project defines it: its directories, its migrations table and the knex
 * (with the knexfile's settings) its migrations and seeds run with. One per configuration.
 */
export interface TenantProject {
  /** The knexfile read, or null. */
  knexfile: string | null;
  /** The knexfile's environment used, when it exports one per environment. */
  knexEnv: string | null;
  migrationsDir: string;
  seedsDir: string;
  migrations: MigrationSettings;
  /** The migrations table, where tenantctl reads it: the knexfile's name, and its schema (PostgreSQL). */
  table: MigrationTable;
  /** The extensions loaded as seeds (knexfile `seeds.loadExtensions`), or all tenantctl loads. */
  seedExtensions?: readonly string[];
  /** Where each directory came from: `config` (flag, environment, config file), `knexfile`, or `default`. */
  origins: { migrations: DirectoryOrigin; seeds: DirectoryOrigin };
  /** A fresh listing of the migrations directory. */
  source(): DirectoryMigrationSource;
  /** The knex migrations and seeds run with: the project's own, given the knexfile's settings. */
  knex: ProjectKnex;
}

export type DirectoryOrigin = 'config' | 'knexfile' | 'default';

const projects = new WeakMap<Config, Promise<TenantProject>>();

/**
 * The project of a configuration, read once (a knexfile is user code: it runs once per run).
 * Directories: flag > environment > config file > knexfile > `./migrations`, `./seeds`.
 */
export function tenantProject(ctx: { config: Config }): Promise<TenantProject> {
  let project = projects.get(ctx.config);
  if (!project) {
    project = load(ctx.config);
    projects.set(ctx.config, project);
    // A knexfile that failed to load is tried again next time rather than cached as failed.
    project.catch(() => projects.delete(ctx.config));
  }
  return project;
}

async function load(config: Config): Promise<TenantProject> {
  const file = config.knexfile ? await readKnexfile(config.knexfile, config.knexEnv) : undefined;
  const configured = config.directoriesConfigured ?? { migrations: true, seeds: true };
  const fromKnexfile = {
    migrations: !configured.migrations && file?.migrations.directory !== undefined,
    seeds: !configured.seeds && file?.seeds.directory !== undefined,
  };
  const migrationsDir = fromKnexfile.migrations ? file!.migrations.directory! : config.migrationsDir;
  const seedsDir = fromKnexfile.seeds ? file!.seeds.directory! : config.seedsDir;
  const origin = (which: 'migrations' | 'seeds'): DirectoryOrigin =>
    configured[which] ? 'config' : fromKnexfile[which] ? 'knexfile' : 'default';
  const extensions = file?.migrations.loadExtensions;
  const base = projectKnex(file ? dirname(file.file) : migrationsDir);
  return {
    knexfile: file?.file ?? null,
    knexEnv: file?.env ?? null,
    migrationsDir,
    seedsDir,
    origins: { migrations: origin('migrations'), seeds: origin('seeds') },
    migrations: {
      tableName: file?.migrations.tableName ?? DEFAULT_MIGRATIONS_TABLE,
      ...(file?.migrations.schemaName ? { schemaName: file.migrations.schemaName } : {}),
      ...(file?.migrations.disableTransactions ? { disableTransactions: true } : {}),
    },
    table: {
      name: file?.migrations.tableName ?? DEFAULT_MIGRATIONS_TABLE,
      ...(file?.migrations.schemaName ? { schema: file.migrations.schemaName } : {}),
    },
    ...(file?.seeds.loadExtensions ? { seedExtensions: file.seeds.loadExtensions } : {}),
    source: () => new DirectoryMigrationSource(migrationsDir, extensions),
    knex: file
      ? { used: base.used, factory: (tenant) => namedAsKnexfile(base.factory(withKnexfile(file, tenant)), file) }
      : base,
  };
}

/**
 * Migrations see the client name their knexfile gives (`knex.client.config.client === 'sqlite3'`,
 * `'postgresql'`), as under the knex CLI, where it names the tenant's engine; the dialect is the
 * client's own. (knex reads the name only when it is made: changing it afterwards is harmless.)
 */
function namedAsKnexfile(knex: Knex, file: KnexfileSettings): Knex {
  const config = (knex.client as { config: Knex.Config }).config;
  if (typeof config.client === 'string') config.client = knexClientName(config.client, file.client);
  return knex;
}

type AfterCreate = (connection: unknown, done: (error: Error | null, connection?: unknown) => void) => void;

/**
 * The tenant's configuration (client, connection, pool of one, log) over the knexfile's
 * settings: everything else is the knexfile's (wrapIdentifier, postProcessResponse, searchPath,
 * useNullAsDefault, …). A knexfile `pool.afterCreate` runs after the tenant's own.
 */
function withKnexfile(file: KnexfileSettings, tenant: Knex.Config): Knex.Config {
  const merged: Knex.Config = { ...file.knex, ...tenant };
  const theirs = file.knex.pool?.afterCreate as AfterCreate | undefined;
  if (!theirs) return merged;
  const ours = tenant.pool?.afterCreate as AfterCreate | undefined;
  const afterCreate: AfterCreate = ours
    ? (connection, done) => ours(connection, (error) => (error ? done(error, connection) : theirs(connection, done)))
    : theirs;
  return { ...merged, pool: { ...tenant.pool, afterCreate } };
}

/**
 * A directory that was asked for (configured, or named by the knexfile) must exist: a mistyped
 * one is exit 2 before anything is created, not a tenant without its schema. Only the default
 * `./migrations` / `./seeds` may be absent ("no migrations").
 */
export function assertProjectDirectories(project: TenantProject, check: { migrations: boolean; seeds: boolean }): void {
  const missing = (
    [
      ...(check.migrations ? [['migrationsDir', project.migrationsDir, project.origins.migrations] as const] : []),
      ...(check.seeds ? [['seedsDir', project.seedsDir, project.origins.seeds] as const] : []),
    ] as const
  ).filter(([, dir, origin]) => origin !== 'default' && !existsSync(dir));
  if (missing.length === 0) return;
  const said = missing.map(([key, dir, origin]) =>
    origin === 'knexfile'
      ? `the knexfile's ${key === 'migrationsDir' ? 'migrations' : 'seeds'}.directory ${dir}`
      : `${key} ${dir}`,
  );
  throw new UsageError(`${said.join(' and ')} ${missing.length > 1 ? 'do' : 'does'} not exist`);
}
