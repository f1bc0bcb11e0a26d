import type { Context } from '../../context/context.js';
import { ConflictError, LockedError, UsageError, errorMessage } from '../../core/errors.js';
import { ignoreProgress, progressCounter, type FleetProgress, type FleetRun } from '../../core/fleet-run.js';
import { runPool } from '../../core/run-pool.js';
import { stoppedBy, stopping, untilCut, type RunInterrupt } from '../../core/run-interrupt.js';
import { adminSetupOf } from '../../tenant-schema/admin-setup.js';
import { UserConsole } from '../../tenant-schema/user-console.js';
import { runAdminSetup } from '../shared/admin-setup.js';
import { serverLimit } from '../shared/fleet-servers.js';
import { loadTenantRow } from '../shared/load-tenant.js';
import { selectTenants, WITH_DATABASE, type TenantSelection } from '../shared/select-tenants.js';
import { withTenantLock } from '../shared/tenant-lock.js';

export interface SetupOptions extends TenantSelection {
  /** Tenants worked on at once. */
  concurrency: number;
  /** Stops the run early (the CLI's Ctrl-C and SIGTERM): see RunInterrupt. */
  interrupt?: RunInterrupt;
}

/** `busy`: another tenantctl held the tenant's lock; `skipped`: not started (stopped). */
export type SetupOutcomeKind = 'done' | 'skipped' | 'failed' | 'busy';

export interface SetupOutcome {
  slug: string;
  server: string;
  outcome: SetupOutcomeKind;
  /** Why a tenant was skipped, or the error it failed with. */
  reason?: string;
  error?: string;
  /** What the setup printed (console.log & co., sent to stderr as it ran), capped; absent: none. */
  log?: string[];
  durationMs: number;
}

export interface SetupResult extends FleetRun<SetupOutcome, SetupOutcomeKind> {
  ok: boolean;
  total: number;
  counts: Record<SetupOutcomeKind, number>;
  tenants: SetupOutcome[];
  /** The adminSetup file run. */
  adminSetup: string;
  durationMs: number;
  interrupted?: string;
}

/**
 * Runs the project's adminSetup again on the selected tenants' databases, as each server's admin
 * (`tenantctl setup`): after the setup changed, or for tenants created before there was one. It
 * is idempotent by contract, so running it on a tenant that has it already changes nothing. Each
 * tenant runs under its lock, `concurrency` at a time and each server within its own limit; a
 * failure does not stop the others.
 */
export async function setupTenants(
  ctx: Context,
  options: SetupOptions,
  onProgress: (progress: FleetProgress) => void = ignoreProgress,
): Promise<SetupResult> {
  const started = Date.now();
  const setup = await adminSetupOf(ctx);
  if (!setup) throw new UsageError('setup: no adminSetup is configured (--admin-setup, TENANTCTL_ADMIN_SETUP, config)');
  const tenants = await selectTenants(ctx, options, 'setup');
  const outcomes: SetupOutcome[] = new Array(tenants.length);
  const counts: Record<SetupOutcomeKind, number> = { done: 0, skipped: 0, failed: 0, busy: 0 };
  const progress = progressCounter(tenants.length, onProgress, started);
  const interrupt = options.interrupt;
  const several = tenants.length > 1 && options.concurrency > 1;
  const settle = (index: number, outcome: SetupOutcome) => {
    counts[outcome.outcome]++;
    outcomes[index] = outcome;
    progress(outcome.outcome === 'failed');
  };
  await runPool(
    tenants,
    options.concurrency,
    async (tenant, index) => {
      const began = Date.now();
      const userConsole = new UserConsole(several ? tenant.slug : undefined);
      let outcome: Pick<SetupOutcome, 'outcome' | 'error'>;
      try {
        outcome = await untilCut<Pick<SetupOutcome, 'outcome' | 'error'>>(
          userConsole.run(() =>
            withTenantLock(ctx, tenant.slug, async () => {
              // Under the lock, from the row as it is now.
              const row = await loadTenantRow(ctx, tenant.slug);
              if (!WITH_DATABASE.includes(row.status))
                throw new ConflictError(`tenant "${row.slug}" is ${row.status}: it has no database to set up`);
              if (row.step) throw new ConflictError(`tenant "${row.slug}" is in the middle of "${row.step}"`);
              const server = await ctx.server(row.server_id);
              const target = { ...row, database: row.database_name, user: row.database_user };
              await runAdminSetup(ctx, server.connection, target, setup);
              return { outcome: 'done' as const };
            }),
          ),
          interrupt?.cut,
          () => ({ outcome: 'failed', error: `cut (${stoppedBy(interrupt)}): run setup ${tenant.slug} again` }),
        );
      } catch (error) {
        outcome = { outcome: error instanceof LockedError ? 'busy' : 'failed', error: errorMessage(error) };
      }
      const log = userConsole.log();
      settle(index, {
        slug: tenant.slug,
        server: tenant.server_name,
        ...outcome,
        ...(log ? { log } : {}),
        durationMs: Date.now() - began,
      });
    },
    {
      keyOf: (tenant) => tenant.server_id,
      limitOf: serverLimit(ctx, tenants, options.concurrency),
      shouldStop: () => stopping(interrupt),
      onSkipped: (tenant, index) =>
        settle(index, {
          slug: tenant.slug,
          server: tenant.server_name,
          outcome: 'skipped',
          reason: `not started: stopped by ${stoppedBy(interrupt)}`,
          durationMs: 0,
        }),
    },
  );
  const interrupted = stoppedBy(interrupt);
  return {
    ok: counts.failed === 0 && counts.busy === 0 && !interrupted,
    total: tenants.length,
    counts,
    tenants: outcomes,
    adminSetup: setup.file,
    durationMs: Date.now() - started,
    ...(interrupted ? { interrupted } : {}),
  };
}
