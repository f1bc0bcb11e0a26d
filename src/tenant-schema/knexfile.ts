import { dirname, isAbsolute, resolve } from 'node:path';
import type { Knex } from 'knex';
import { UsageError, errorMessage } from '../core/errors.js';
import { importUserModule } from './load-module.js';

/** What tenantctl takes from a project's knexfile (README "Writing migrations and seeds"). */
export interface KnexfileSettings {
  /** The knexfile read, absolute. */
  file: string;
  /** The environment read from it, when it exports one object per environment. */
  env: string | null;
  /** The knexfile's client name (`sqlite3`, `postgresql`, …), shown to migrations where it is the tenant's engine. */
  client?: string;
  /** Every knex setting but the connection and the client (the tenant's replace them). */
  knex: Omit<Knex.Config, 'connection' | 'client' | 'migrations' | 'seeds'>;
  migrations: {
    directory?: string;
    tableName?: string;
    schemaName?: string;
    disableTransactions?: boolean;
    loadExtensions?: readonly string[];
  };
  seeds: { directory?: string; loadExtensions?: readonly string[] };
}

type Exported = Knex.Config | Record<string, Knex.Config> | (() => Knex.Config | Promise<Knex.Config>);

/** Keys only a single environment's settings have: an object with none of them holds environments. */
const SETTING_KEYS = ['client', 'connection', 'migrations', 'seeds', 'pool', 'wrapIdentifier', 'postProcessResponse'];

/**
 * Reads a knexfile as the knex CLI does: its export (or default export) is the settings, a
 * function returning them (awaited), or an object of environments (`env` picks one). Paths in
 * it are relative to the knexfile's directory (the knex CLI runs from there).
 */
export async function readKnexfile(file: string, env: string): Promise<KnexfileSettings> {
  let exported: Exported;
  try {
    const module = await importUserModule<{ default?: Exported }>(file);
    exported = (module.default ?? module) as Exported;
    if (typeof exported === 'function') exported = await exported();
  } catch (error) {
    throw new UsageError(`knexfile ${file} could not be loaded: ${errorMessage(error)}`, { cause: error });
  }
  if (!exported || typeof exported !== 'object') throw new UsageError(`knexfile ${file} exports no settings`);
  let settings = exported as Knex.Config;
  let chosen: string | null = null;
  if (!SETTING_KEYS.some((key) => key in exported)) {
    const environments = exported as Record<string, Knex.Config>;
    if (!environments[env] || typeof environments[env] !== 'object') {
      throw new UsageError(
        `knexfile ${file} has no environment "${env}" (it has ${Object.keys(environments).join(', ') || 'none'}): set knexEnv or NODE_ENV`,
      );
    }
    settings = environments[env];
    chosen = env;
  }
  return normalise(file, chosen, settings);
}

function normalise(file: string, env: string | null, settings: Knex.Config): KnexfileSettings {
  // The connection and client are the tenant's (dropped here); migrations and seeds are read apart.
  const { connection: _connection, client, migrations = {}, seeds = {}, ...knex } = settings;
  const base = dirname(file);
  const at = (dir: unknown, what: string): string | undefined => {
    if (dir === undefined) return undefined;
    const one = Array.isArray(dir) && dir.length === 1 ? (dir[0] as unknown) : dir;
    if (typeof one !== 'string') throw new UsageError(`knexfile ${file}: ${what}.directory must be one directory`);
    return isAbsolute(one) ? one : resolve(base, one);
  };
  return {
    file,
    env,
    ...(typeof client === 'string' ? { client } : {}),
    knex,
    migrations: {
      directory: at(migrations.directory, 'migrations'),
      tableName: migrations.tableName,
      schemaName: migrations.schemaName,
      disableTransactions: migrations.disableTransactions,
      loadExtensions: migrations.loadExtensions,
    },
    seeds: { directory: at(seeds.directory, 'seeds'), loadExtensions: seeds.loadExtensions },
  };
}
