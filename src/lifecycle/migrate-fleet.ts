import type { Knex } from 'knex';
import type { AppContext, ServerHandle } from '../context/app-context.js';
import { errorMessage } from '../core/errors.js';
import { runPool } from '../core/run-pool.js';
import type { AppliedMigrations } from '../engines/engine-driver.js';
import { finishRun, markInterruptedRuns, recordOutcomes, startRun, type OutcomeRow, type RunKind } from '../registry/runs-repo.js';
import { now, type TenantWithServer } from '../registry/tenants-repo.js';
import { DirectoryMigrationSource } from '../tenant-schema/migration-source.js';
import { migratorConfig, TENANT_MIGRATIONS_TABLE } from '../tenant-schema/run-migrations.js';
import { MIGRATIONS_LOCK, withFleetLock } from './fleet-lock.js';
import { selectTenants, type TenantSelection } from './select-tenants.js';
import { withTenantKnex } from './tenant-database.js';

export interface MigrateFleetOptions extends TenantSelection {
  /** `up`: to the latest migration; `down`: roll back the last batch. */
  direction: 'up' | 'down';
  /** Tenants worked on at once. */
  concurrency: number;
  /** Report what would run; change nothing, take no lock, record no run. */
  dryRun?: boolean;
  /** Stop starting tenants after the first failure; the rest are `skipped`. */
  failFast?: boolean;
  /** How long to wait for a running migration to finish before giving up. Default 0. */
  waitMs?: number;
}

export type TenantOutcomeKind = 'migrated' | 'rolled_back' | 'up_to_date' | 'pending' | 'failed' | 'skipped';

export interface TenantMigrationOutcome {
  slug: string;
  server: string;
  outcome: TenantOutcomeKind;
  /** Migrations applied (up), rolled back (down), or that would be applied (dry run). */
  migrations: string[];
  error?: string;
  durationMs: number;
}

export interface FleetProgress {
  done: number;
  total: number;
  failed: number;
  elapsedMs: number;
}

export interface MigrateFleetResult {
  /** The registry's id for this run; null for a dry run. */
  runId: number | null;
  kind: RunKind;
  dryRun: boolean;
  ok: boolean;
  total: number;
  counts: Record<TenantOutcomeKind, number>;
  /** The migrations in the migrations directory, in order. */
  available: string[];
  tenants: TenantMigrationOutcome[];
  durationMs: number;
}

/**
 * Migrates (or rolls back) every selected tenant, `concurrency` at a time from one queue. A
 * failing tenant does not stop the others unless `failFast`. Tenants already up to date are found
 * with one bulk read per server and never opened. Returns every tenant's outcome; the run and the
 * outcomes are stored in the registry.
 */
export async function migrateFleet(
  ctx: AppContext,
  options: MigrateFleetOptions,
  onProgress: (progress: FleetProgress) => void = () => {},
): Promise<MigrateFleetResult> {
  const started = Date.now();
  const kind: RunKind = options.direction === 'up' ? 'migrate' : 'rollback';
  const source = new DirectoryMigrationSource(ctx.config.migrationsDir);
  const available = source.list();

  const body = async (): Promise<MigrateFleetResult> => {
    const tenants = await selectTenants(ctx, options, kind);
    const registry = await ctx.registry();
    let runId: number | null = null;
    if (!options.dryRun) {
      await markInterruptedRuns(registry.knex, kind);
      runId = await startRun(registry.knex, kind, runOptions(options), tenants.length);
    }

    const outcomes: TenantMigrationOutcome[] = new Array(tenants.length);
    const pendingRows: OutcomeRow[] = [];
    let done = 0;
    let failed = 0;
    const flush = async () => {
      if (runId !== null) await recordOutcomes(registry.knex, pendingRows.splice(0));
    };
    const settle = async (index: number, tenant: TenantWithServer, outcome: Omit<TenantMigrationOutcome, 'slug' | 'server'>) => {
      outcomes[index] = { slug: tenant.slug, server: tenant.server_name, ...outcome };
      done++;
      if (outcome.outcome === 'failed') failed++;
      if (runId !== null) {
        pendingRows.push({
          run_id: runId,
          tenant_id: tenant.id,
          slug: tenant.slug,
          outcome: outcome.outcome as OutcomeRow['outcome'],
          detail: outcome.migrations.length ? JSON.stringify(outcome.migrations) : null,
          error: outcome.error ?? null,
          duration_ms: outcome.durationMs,
          finished_at: now(),
        });
        if (pendingRows.length >= 100) await flush();
      }
      onProgress({ done, total: tenants.length, failed, elapsedMs: Date.now() - started });
    };

    try {
      // Up: one bulk read per server finds the tenants with nothing to do, without opening them.
      const applied = options.direction === 'up' ? await readApplied(ctx, tenants, options.concurrency) : undefined;
      const work: Array<{ tenant: TenantWithServer; index: number; pending: string[] }> = [];
      for (const [index, tenant] of tenants.entries()) {
        if (!applied) {
          work.push({ tenant, index, pending: [] });
          continue;
        }
        const names = applied.get(tenant.server_id)?.get(tenant.database_name) ?? null;
        const plan = planMigrations(available, names);
        if (plan.unknown.length) {
          await settle(index, tenant, { outcome: 'failed', migrations: [], durationMs: 0, error: `applied migrations missing from ${ctx.config.migrationsDir}: ${plan.unknown.join(', ')}` });
        } else if (plan.pending.length === 0) {
          await settle(index, tenant, { outcome: 'up_to_date', migrations: [], durationMs: 0 });
        } else if (options.dryRun) {
          await settle(index, tenant, { outcome: 'pending', migrations: plan.pending, durationMs: 0 });
        } else {
          work.push({ tenant, index, pending: plan.pending });
        }
      }
      if (options.dryRun && options.direction === 'down') {
        for (const { tenant, index } of work.splice(0)) await settle(index, tenant, await plannedRollback(ctx, tenant));
      }

      await runPool(
        work,
        options.concurrency,
        async ({ tenant, index }) => settle(index, tenant, await migrateOne(ctx, tenant, source, options.direction)),
        {
          shouldStop: () => Boolean(options.failFast) && failed > 0,
          onSkipped: ({ tenant, index }) => void settle(index, tenant, { outcome: 'skipped', migrations: [], durationMs: 0, error: 'skipped after an earlier failure (--fail-fast)' }),
        },
      );
    } finally {
      await flush();
    }

    const counts = countOutcomes(outcomes);
    if (runId !== null) {
      await finishRun(registry.knex, runId, {
        succeeded: counts.migrated + counts.rolled_back + counts.up_to_date,
        failed: counts.failed,
        skipped: counts.skipped,
      });
    }
    return {
      runId,
      kind,
      dryRun: Boolean(options.dryRun),
      ok: counts.failed === 0 && counts.skipped === 0,
      total: tenants.length,
      counts,
      available,
      tenants: outcomes,
      durationMs: Date.now() - started,
    };
  };

  // A dry run changes nothing, so it needs no lock and never waits behind a real run.
  if (options.dryRun) return body();
  return withFleetLock(ctx, MIGRATIONS_LOCK, options.waitMs ?? 0, 'migration run', body);
}

/** Pending = available but not applied; unknown = applied but no longer in the directory. */
export function planMigrations(available: string[], applied: string[] | null): { pending: string[]; unknown: string[] } {
  const done = new Set(applied ?? []);
  const known = new Set(available);
  return { pending: available.filter((n) => !done.has(n)), unknown: (applied ?? []).filter((n) => !known.has(n)) };
}

/** Each server's tenants' applied migrations, read in bulk. */
export async function readApplied(ctx: AppContext, tenants: TenantWithServer[], concurrency: number): Promise<Map<number, AppliedMigrations>> {
  const byServer = new Map<number, string[]>();
  for (const t of tenants) byServer.set(t.server_id, [...(byServer.get(t.server_id) ?? []), t.database_name]);
  const result = new Map<number, AppliedMigrations>();
  for (const [serverId, databases] of byServer) {
    const server = await ctx.server(serverId);
    result.set(serverId, await server.connection.readAppliedMigrations(databases, TENANT_MIGRATIONS_TABLE, concurrency));
  }
  return result;
}

async function migrateOne(
  ctx: AppContext,
  tenant: TenantWithServer,
  source: DirectoryMigrationSource,
  direction: 'up' | 'down',
): Promise<Omit<TenantMigrationOutcome, 'slug' | 'server'>> {
  const started = Date.now();
  let server: ServerHandle | undefined;
  try {
    server = await ctx.server(tenant.server_id);
    const migrations = await withTenantKnex(server.connection, tenant.database_name, tenant.database_user, async (knex: Knex) => {
      const config = migratorConfig(source);
      // Every tenantctl migration holds the fleet lock, so a knex lock row found set now was
      // left by a killed run: free it rather than fail until someone unlocks by hand.
      await knex.migrate.forceFreeMigrationsLock(config);
      const [, names] = (direction === 'up' ? await knex.migrate.latest(config) : await knex.migrate.rollback(config)) as [number, string[]];
      return names;
    });
    const outcome: TenantOutcomeKind = migrations.length === 0 ? 'up_to_date' : direction === 'up' ? 'migrated' : 'rolled_back';
    return { outcome, migrations, durationMs: Date.now() - started };
  } catch (error) {
    const hint = server && !server.connection.driver.transactionalDdl ? ` [${server.connection.driver.engine} cannot roll back DDL: the failed migration may be partly applied]` : '';
    return { outcome: 'failed', migrations: [], error: `${errorMessage(error)}${hint}`, durationMs: Date.now() - started };
  }
}

/** Dry run of a rollback: the last batch, read from the tenant's migration table. */
async function plannedRollback(ctx: AppContext, tenant: TenantWithServer): Promise<Omit<TenantMigrationOutcome, 'slug' | 'server'>> {
  try {
    const server = await ctx.server(tenant.server_id);
    const names = await withTenantKnex(server.connection, tenant.database_name, tenant.database_user, async (knex) => {
      if (!(await knex.schema.hasTable(TENANT_MIGRATIONS_TABLE))) return [];
      const last = await knex(TENANT_MIGRATIONS_TABLE).max({ batch: 'batch' }).first();
      if (!last?.batch) return [];
      return knex(TENANT_MIGRATIONS_TABLE).where({ batch: last.batch }).orderBy('id', 'desc').pluck('name');
    });
    return { outcome: names.length ? 'pending' : 'up_to_date', migrations: names, durationMs: 0 };
  } catch (error) {
    return { outcome: 'failed', migrations: [], error: errorMessage(error), durationMs: 0 };
  }
}

function countOutcomes(outcomes: TenantMigrationOutcome[]): Record<TenantOutcomeKind, number> {
  const counts: Record<TenantOutcomeKind, number> = { migrated: 0, rolled_back: 0, up_to_date: 0, pending: 0, failed: 0, skipped: 0 };
  for (const o of outcomes) counts[o.outcome]++;
  return counts;
}

function runOptions(options: MigrateFleetOptions): object {
  const { direction, concurrency, failFast, slugs, statuses, plans, servers, retryFailed } = options;
  return { direction, concurrency, failFast, slugs, statuses, plans, servers, retryFailed };
}
