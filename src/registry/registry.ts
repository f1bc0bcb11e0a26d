import knexFactory, { type Knex } from 'knex';
import { UnreachableError, UsageError, errorMessage, networkReason } from '../core/errors.js';
import type { EngineDriver, HeldLock } from '../engines/engine-driver.js';
import { driverFor } from '../engines/drivers.js';
import { connectFailure } from '../engines/connect-failure.js';
import { describeServer, parseServerUrl, type ServerSpec } from '../engines/server-spec.js';
import {
  LATEST_REGISTRY_MIGRATION,
  REGISTRY_MIGRATION_COUNT,
  REGISTRY_MIGRATIONS_TABLE,
  registryMigrationSource,
} from './schema/index.js';
import { keyedLockName, registryMark, registrySecret } from './lock-names.js';

/** The open registry database: one knex pool, the engine's driver, and its lock primitive. */
export interface Registry {
  readonly knex: Knex;
  readonly driver: EngineDriver;
  readonly spec: ServerSpec;
  /**
   * Takes a named lock held in the registry database itself; undefined if busy after `waitMs`.
   * Where the engine's lock space is shared with the server's other users, the name is keyed
   * with the registry's secret (see lock-names.ts), so no tenant can take or block it.
   */
  tryLock(name: string, waitMs?: number): Promise<HeldLock | undefined>;
  /**
   * The mark this registry leaves on its databases (ownership-mark.ts): derived from its secret
   * id, the same for every tenantctl that opens this registry (and a restored copy of it).
   */
  mark(): Promise<string>;
  close(): Promise<void>;
}

const MIGRATE_CONFIG: Knex.MigratorConfig = {
  migrationSource: registryMigrationSource,
  tableName: REGISTRY_MIGRATIONS_TABLE,
};

/**
 * Opens the registry and brings its schema up to date (the automatic `init`); with
 * `migrate: false` only checks that it can be read and has been set up.
 */
export async function openRegistry(
  url: string,
  options: { migrate?: boolean; connectTimeoutMs?: number; statementTimeoutMs?: number } = {},
): Promise<Registry> {
  const spec: ServerSpec = {
    ...parseServerUrl(url),
    connectTimeoutMs: options.connectTimeoutMs,
    statementTimeoutMs: options.statementTimeoutMs,
  };
  const driver = driverFor(spec.engine);
  // On a server the registry is one database among others: the URL must say which.
  if (!driver.embedded && !spec.database) {
    throw new UsageError('the registry URL must name a database, e.g. postgres://postgres@127.0.0.1:5432/tenantctl');
  }
  const knex = knexFactory(registryKnexConfig(driver, spec));
  // Session locks hold connections of their own, never the queries' (embedded: files, no sessions).
  let locks: Knex | undefined;
  let secret: Promise<string> | undefined;
  const readSecret = (): Promise<string> =>
    (secret ??= registrySecret(knex, driver).catch((error: unknown) => {
      secret = undefined; // a failed read (the network) is tried again by the next lock
      throw error;
    }));
  const lockName = async (name: string): Promise<string> => {
    if (!driver.sharedLockSpace) return name;
    return keyedLockName(await readSecret(), name);
  };
  const registry: Registry = {
    knex,
    driver,
    spec,
    tryLock: async (name, waitMs = 0) =>
      driver.tryLock(
        driver.embedded ? knex : (locks ??= knexFactory(driver.lockKnexConfig(spec))),
        await lockName(name),
        waitMs,
      ),
    mark: async () => registryMark(await readSecret()),
    close: async () => {
      await Promise.all([knex.destroy(), locks?.destroy()]);
    },
  };
  try {
    if (options.migrate === false) await assertRegistryReadable(registry);
    else {
      await migrateRegistry(registry);
      await restrictRegistryAccess(registry);
    }
  } catch (error) {
    await registry.close();
    const { reason, detail } = connectFailure(driver, spec, error);
    if (reason !== 'unavailable' || networkReason(error)) {
      throw new UnreachableError(
        `cannot reach the registry database (${describeServer(spec)}): ${reason} (${detail ?? errorMessage(error).split('\n')[0]})`,
        { cause: error },
      );
    }
    throw error;
  }
  return registry;
}

/**
 * Closes the registry database to the server's other users (tenants' users included) where the
 * engine opens a new database to them (PostgreSQL: CONNECT for PUBLIC) and the registry's user may
 * change that (its owner, a superuser). Costs one query when it is closed already. A registry user
 * that may not is left as it is: `doctor` reports it as `registry_exposed`, with the statement to run.
 */
async function restrictRegistryAccess({ knex, driver }: Registry): Promise<void> {
  if (!(await driver.registryExposure(knex))) return;
  await driver.restrictRegistry(knex).catch(() => undefined);
}

/**
 * A server registry's query pool: fleet workers each write their outcomes and steps while
 * others read, so a few connections; its locks have a pool of their own (Registry.tryLock).
 * The embedded registry's pool is its one connection.
 */
const REGISTRY_POOL_MAX = 6;

function registryKnexConfig(driver: EngineDriver, spec: ServerSpec): Knex.Config {
  const config = driver.adminKnexConfig(spec);
  return driver.embedded ? config : { ...config, pool: { ...config.pool, max: REGISTRY_POOL_MAX } };
}

/** Applies pending registry migrations; returns their names. Costs one query when there are none. */
export async function migrateRegistry(registry: Registry): Promise<string[]> {
  if (await registryIsCurrent(registry)) return [];
  // Our own session lock serialises concurrent first runs; knex's lock row is then only ever
  // ours, so a stale one left by a killed run is freed instead of blocking forever.
  const lock = await registry.tryLock('tenantctl:registry-migrations', 60_000);
  if (!lock) throw new UnreachableError('timed out waiting for another tenantctl to migrate the registry');
  try {
    await registry.knex.migrate.forceFreeMigrationsLock(MIGRATE_CONFIG);
    const [, applied] = (await registry.knex.migrate.latest(MIGRATE_CONFIG)) as [number, string[]];
    return applied;
  } finally {
    await lock.release();
  }
}

/**
 * Current: the newest migration applied, and every one before it (a registry that skipped one,
 * whatever the reason, gets it: knex applies missing migrations in order).
 */
async function registryIsCurrent({ knex, driver }: Registry): Promise<boolean> {
  try {
    const row = (await knex(REGISTRY_MIGRATIONS_TABLE).max('name as name').countDistinct('name as applied').first()) as
      { name: string | null; applied: number | string } | undefined;
    if (row?.name && row.name > LATEST_REGISTRY_MIGRATION) {
      // Another machine's newer tenantctl upgraded it: downgrading it here would lose data.
      throw new UsageError(
        `the registry schema (${row.name}) is newer than this tenantctl knows (${LATEST_REGISTRY_MIGRATION}): upgrade tenantctl`,
      );
    }
    return row?.name === LATEST_REGISTRY_MIGRATION && Number(row.applied) === REGISTRY_MIGRATION_COUNT;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (networkReason(error) || driver.isLoginError(error)) throw error;
    return false; // no migrations table yet
  }
}

/** A registry opened read-only must exist already: nothing here may create it. */
async function assertRegistryReadable({ knex, driver }: Registry): Promise<void> {
  try {
    await knex(REGISTRY_MIGRATIONS_TABLE).max('name as name').first();
  } catch (error) {
    if (networkReason(error) || driver.isLoginError(error)) throw error;
    throw new UsageError('the registry has not been set up (run `tenantctl init` with write access first)', {
      cause: error,
    });
  }
}

export async function getSetting(knex: Knex, key: string): Promise<string | undefined> {
  const row = await knex('tenantctl_settings').where({ key }).first();
  return row?.value;
}

export async function putSetting(knex: Knex, key: string, value: string): Promise<void> {
  const updated = await knex('tenantctl_settings').where({ key }).update({ value });
  if (updated === 0) await knex('tenantctl_settings').insert({ key, value });
}

export async function deleteSetting(knex: Knex, key: string): Promise<void> {
  await knex('tenantctl_settings').where({ key }).delete();
}
