import { existsSync, readFileSync } from 'node:fs';
import type { Knex } from 'knex';
import type { Config } from '../config/config-keys.js';
import { TenantctlError, UsageError, errorMessage } from '../core/errors.js';
import { importUserModule } from './load-module.js';
import type { SeedTenant } from './run-seeds.js';

/**
 * What an adminSetup module's `setup(knex, tenant)` is given besides the knex: the tenant as a
 * seed sees it, and the names on its server (to grant the tenant's user what a migration needs).
 */
export interface SetupTenant extends SeedTenant {
  database: string;
  /** The tenant's own database user; null where it has none (SQLite, `tenantUsers: false`). */
  user: string | null;
}

type SetupFunction = (knex: Knex, tenant: SetupTenant) => unknown;

/**
 * The project's admin setup (config `adminSetup`): a `.sql` script, or a module exporting
 * `setup(knex, tenant)` (named or default export). It runs as the server's admin on a tenant's
 * database before its migrations, and again on every `tenantctl setup`: idempotent by contract.
 */
export interface AdminSetup {
  file: string;
  kind: 'sql' | 'module';
  /** The script's text (`sql`), read when loaded. */
  sql?: string;
  /** The module's setup function (`module`). */
  setup?: SetupFunction;
}

const loaded = new WeakMap<Config, Promise<AdminSetup | undefined>>();

/**
 * The configured admin setup, loaded once per configuration (a module is user code: it runs
 * when loaded); undefined when none is configured. A missing file, or a module without a setup
 * function, is a usage error (exit 2), thrown before anything is created.
 */
export function adminSetupOf(ctx: { config: Config }): Promise<AdminSetup | undefined> {
  let setup = loaded.get(ctx.config);
  if (!setup) {
    setup = load(ctx.config.adminSetup);
    loaded.set(ctx.config, setup);
    setup.catch(() => loaded.delete(ctx.config));
  }
  return setup;
}

async function load(file: string | undefined): Promise<AdminSetup | undefined> {
  if (!file) return undefined;
  if (!existsSync(file)) throw new UsageError(`adminSetup ${file} does not exist`);
  if (file.endsWith('.sql')) return { file, kind: 'sql', sql: readFileSync(file, 'utf8') };
  let module: { setup?: unknown; default?: unknown };
  try {
    module = await importUserModule<{ setup?: unknown; default?: unknown }>(file);
  } catch (error) {
    throw new UsageError(`adminSetup ${file} could not be loaded: ${errorMessage(error)}`, { cause: error });
  }
  const setup = typeof module.setup === 'function' ? module.setup : module.default;
  if (typeof setup !== 'function') {
    throw new UsageError(`adminSetup ${file} exports no setup(knex, tenant) function (or is not a .sql file)`);
  }
  return { file, kind: 'module', setup: setup as SetupFunction };
}

/**
 * Runs the setup on `knex` (an admin session on the tenant's database); `runScript` runs a .sql
 * file as the engine reads scripts. A failure names the file.
 */
export async function runAdminSetupOn(
  knex: Knex,
  setup: AdminSetup,
  tenant: SetupTenant,
  runScript: (knex: Knex, sql: string) => Promise<void>,
): Promise<void> {
  try {
    if (setup.kind === 'sql') await runScript(knex, setup.sql!);
    else await setup.setup!(knex, tenant);
  } catch (error) {
    throw new TenantctlError(`adminSetup ${setup.file}: ${errorMessage(error)}`, { cause: error });
  }
}
