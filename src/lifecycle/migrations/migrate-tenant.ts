import type { Knex } from 'knex';
import type { Context, ServerHandle } from '../../context/context.js';
import { formatDuration } from '../../core/duration.js';
import { TamperedTableError, errorMessage } from '../../core/errors.js';
import type { Registry } from '../../registry/registry.js';
import type { MigrationTable } from '../../engines/engine-driver.js';
import type { TenantWithServer } from '../../registry/tenants-repo.js';
import type { DirectoryMigrationSource } from '../../tenant-schema/migration-source.js';
import { planMigrations, runMigrator } from '../../tenant-schema/run-migrations.js';
import type { TenantProject } from '../../tenant-schema/tenant-project.js';
import { UserConsole } from '../../tenant-schema/user-console.js';
import { databaseErrorDetail, describeErrorDetail } from '../../engines/error-detail.js';
import { isOutage, outageMessage } from '../shared/fleet-servers.js';
import { freshTenant } from '../shared/fresh-tenant.js';
import { permissionHint } from '../shared/admin-setup.js';
import { withCutoff } from '../shared/tenant-deadline.js';
import { withTenantKnex } from '../shared/tenant-database.js';
import { ifTenantFree, type TenantLockPool } from '../shared/tenant-lock-pool.js';
import { tenantLogin } from '../shared/tenant-login.js';
import { backupBeforeMigrating } from './backup-first.js';
import { settledAs, type MigrateFleetOptions, type Settled } from './fleet-types.js';
import { isRegistryOutage } from './registry-retry.js';
import type { RunStop } from './run-stop.js';

/** What the run knows of a tenant's migrations before its worker opens it. */
export interface KnownMigrations {
  /** Read in bulk (undefined: not read, the worker reads it). */
  applied: string[] | null | undefined;
  /** The tenant keeps a migration fingerprint already. */
  fingerprinted: boolean;
}

/** What every tenant of one run is migrated with. */
export interface TenantMigration {
  ctx: Context;
  registry: Registry;
  /** The project's directories, migrations table and knex (see tenantProject). */
  project: TenantProject;
  source: DirectoryMigrationSource;
  available: string[];
  options: MigrateFleetOptions;
  /** The run's tenant locks; none in a dry run. */
  locks: TenantLockPool | undefined;
  stop: RunStop;
  /** Several tenants may run at once: what their migrations print is prefixed with their slug. */
  several: boolean;
}

/**
 * One attempt at one tenant, holding its lock (one another operation holds is `busy`), from
 * where the registry says it lives now; never throws but for a registry that answers wrongly.
 */
export function attemptTenant(
  run: TenantMigration,
  tenant: TenantWithServer,
  known: KnownMigrations,
): Promise<Settled> {
  const { ctx, options, stop } = run;
  return ifTenantFree<Settled>(
    run.locks,
    tenant.slug,
    async (): Promise<Settled> => {
      // Under the tenant's lock: where it lives now, not where the list said.
      const fresh = options.dryRun ? { now: tenant } : await freshTenant(ctx, tenant, options);
      if ('outcome' in fresh) return settledAs(fresh.outcome, fresh.reason);
      const knownNow = fresh.movedFrom ? { applied: undefined, fingerprinted: false } : known;
      // What its migrations print is its own (`log`), prefixed with its slug when others run too.
      const userConsole = new UserConsole(run.several ? tenant.slug : undefined);
      const settled = await userConsole.run(() =>
        migrateOne(run, fresh.now, knownNow, {
          signal: stop.cutSignal,
          cut: () => ({
            outcome: 'failed',
            migrations: [],
            cut: true,
            error: `cut: ${stop.reason()}; its migration was stopped`,
            durationMs: 0,
          }),
        }),
      );
      const log = userConsole.log();
      return {
        ...settled,
        worked: fresh.now,
        ...(fresh.movedFrom ? { movedFrom: fresh.movedFrom } : {}),
        ...(log ? { log } : {}),
      };
    },
    (holder) => settledAs('busy', holder),
  ).catch((error: unknown): Settled => {
    // The registry went away under the tenant's lock or re-read: the lost lock stops the run next.
    if (!isRegistryOutage(run.registry, error)) throw error;
    return settledAs('failed', `registry: ${errorMessage(error)}`);
  });
}

/**
 * What a tenant's applied migrations already decide, without touching its database: up to date,
 * a corrupt history, or (dry run) what would run. Undefined when there is work to do.
 */
export function judge(
  available: string[],
  applied: string[] | null | TamperedTableError,
  options: MigrateFleetOptions,
  directory: string,
): Settled | undefined {
  if (applied instanceof TamperedTableError) return settledAs('failed', `${applied.message}: not migrated`);
  const plan = planMigrations(available, applied);
  if (plan.unknown.length)
    return {
      ...settledAs('failed', `applied migrations missing from ${directory}: ${plan.unknown.join(', ')}`),
      missingMigrations: plan.unknown,
    };
  if (plan.pending.length === 0) return settledAs('up_to_date');
  if (options.dryRun) return { outcome: 'pending', migrations: plan.pending, durationMs: 0 };
  return undefined;
}

/** One tenant on one connection: check what is applied (unless known), then migrate or roll back. */
async function migrateOne(
  run: TenantMigration,
  tenant: TenantWithServer,
  known: KnownMigrations,
  cutOff: { signal: AbortSignal | undefined; cut: () => Settled },
): Promise<Settled> {
  const { ctx, options } = run;
  const started = Date.now();
  const took = (settled: Settled): Settled => ({ ...settled, durationMs: Date.now() - started });
  let server: ServerHandle | undefined;
  try {
    server = await ctx.server(tenant.server_id);
    const connection = server.connection;
    const cutoff = {
      ms: options.tenantTimeoutMs,
      lost: connection.lost,
      timedOut: (): Settled => ({
        outcome: 'failed',
        migrations: [],
        timedOut: true,
        error: `timed out after ${formatDuration(options.tenantTimeoutMs!)} (--tenant-timeout): stopped`,
        durationMs: Date.now() - started,
      }),
      serverLost: (reason: unknown): Settled =>
        took(caught('unreachable', outageMessage(tenant, ctx.lostServers().get(tenant.server_id) ?? reason))),
      cut: { signal: cutOff.signal, settle: (): Settled => took(cutOff.cut()) },
    };
    const handle = server;
    return await withCutoff(cutoff, (opened) =>
      withTenantKnex(
        connection,
        tenantLogin(ctx, handle, tenant),
        async (knex: Knex): Promise<Settled> => {
          opened(knex);
          return migrateOn(run, handle, tenant, knex, known, took);
        },
        run.project.knex.factory,
        { lockTimeoutMs: options.lockTimeoutMs },
      ),
    );
  } catch (error) {
    return took(await failureOf(run, tenant, server, error));
  }
}

/** The work itself, on the tenant's open connection; `took` stamps an outcome with the time it took. */
async function migrateOn(
  run: TenantMigration,
  server: ServerHandle,
  tenant: TenantWithServer,
  knex: Knex,
  known: KnownMigrations,
  took: (settled: Settled) => Settled,
): Promise<Settled> {
  const { ctx, options, source, project } = run;
  const driver = server.connection.driver;
  const table = project.table;
  if (options.direction === 'down') {
    // Read (and checked to be a plain table) first: a tampered one is reported, not rolled back.
    const applied = await driver.readAppliedOn(knex, table, tenant.database_name);
    if (options.dryRun) return plannedRollback(knex, applied, table);
    const names = await runMigrator(knex, source, 'down', project.migrations);
    return took({ outcome: names.length ? 'rolled_back' : 'up_to_date', migrations: names, durationMs: 0 });
  }
  const applied =
    known.applied === undefined ? await driver.readAppliedOn(knex, table, tenant.database_name) : known.applied;
  const settled = judge(run.available, applied, options, project.migrationsDir);
  // A tenant without a fingerprint (created before it existed, or restored) gets the trigger
  // that keeps one, so next time it is cheap; where it exists, the trigger updates it itself.
  const keep = !options.dryRun && !known.fingerprinted;
  const fingerprints = server.connection.migrationFingerprints;
  if (settled) {
    if (keep && applied !== null) await fingerprints?.keepMigrationFingerprint(knex, table);
    return took(settled);
  }
  // Only a tenant with migrations pending is backed up: one up to date has nothing to protect.
  const before = options.backupFirst ? await backupBeforeMigrating(ctx, tenant, run.stop.cutSignal) : undefined;
  if (before && 'failed' in before) return took(before.failed);
  const backup = before ? { backup: before.taken } : {};
  const names = await runMigrator(knex, source, 'up', project.migrations);
  if (keep) await fingerprints?.keepMigrationFingerprint(knex, table);
  return took({ outcome: names.length ? 'migrated' : 'up_to_date', migrations: names, durationMs: 0, ...backup });
}

/** What a tenant's migration failing with `error` is (the caller stamps `durationMs`). */
async function failureOf(
  run: TenantMigration,
  tenant: TenantWithServer,
  server: ServerHandle | undefined,
  error: unknown,
): Promise<Settled> {
  const driver = server?.connection.driver;
  if (error instanceof TamperedTableError) return caught('failed', `${error.message}: not migrated`);
  // Before the outage check: a lock timeout's message says "timeout" too.
  if (driver?.isLockTimeoutError(error)) {
    const lockTimeoutMs = run.options.lockTimeoutMs;
    const waited = lockTimeoutMs === undefined ? '' : ` after ${formatDuration(lockTimeoutMs)}`;
    return {
      outcome: 'failed',
      migrations: [],
      lockTimeout: true,
      error: `lock timeout${waited}: ${errorMessage(error)}`,
      durationMs: 0,
    };
  }
  // A failure its server may have caused (a cut connection): the server is asked at once.
  const lost = await run.ctx.unansweredServer(tenant.server_id);
  if (lost || isOutage(error)) return caught('unreachable', outageMessage(tenant, lost ?? error));
  const hint =
    driver && !driver.transactionalDdl
      ? ` [${driver.engine} cannot roll back DDL: the failed migration may be partly applied]`
      : '';
  // The database's own words (PostgreSQL's detail, hint, constraint) go with the message, and as `detail`.
  const detail = databaseErrorDetail(error);
  const denied = driver ? permissionHint(driver, error, tenant.database_user) : '';
  const failed = caught('failed', `${errorMessage(error)}${describeErrorDetail(detail)}${hint}${denied}`);
  return detail ? { ...failed, detail } : failed;
}

/** A failure as a worker reports it (its fields in the order the JSON output has always had them). */
function caught(outcome: 'failed' | 'unreachable', error: string): Settled {
  return { outcome, migrations: [], error, durationMs: 0 };
}

/** Dry run of a rollback: the last batch, read from the tenant's migration table (a plain table: checked). */
async function plannedRollback(knex: Knex, applied: string[] | null, table: MigrationTable): Promise<Settled> {
  if (!applied?.length) return settledAs('up_to_date');
  // In the knexfile's schema where it names one, as knex's migrator reads it.
  const from = (): Knex.QueryBuilder =>
    table.schema ? knex.withSchema(table.schema).from(table.name) : knex.from(table.name);
  const last = await from().max({ batch: 'batch' }).first();
  const names = await from().where({ batch: last!.batch }).orderBy('id', 'desc').pluck('name');
  return { outcome: 'pending', migrations: names, durationMs: 0 };
}
