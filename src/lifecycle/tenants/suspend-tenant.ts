import type { Knex } from 'knex';
import type { Context } from '../../context/context.js';
import type { OperationHooks } from '../../context/operation-hooks.js';
import { ConflictError, OperationError, errorMessage } from '../../core/errors.js';
import { validateText } from '../../core/text-limits.js';
import type { ServerConnection } from '../../engines/engine-driver.js';
import { updateTenantRow, type Tenant, type TenantRow } from '../../registry/tenants-repo.js';
import { loadTenantRow, reloadTenant } from '../shared/load-tenant.js';
import { withTenantLock } from '../shared/tenant-lock.js';
import { assertNotMoving } from '../shared/tenant-moving.js';
import { restoreOwnPassword } from '../shared/tenant-login.js';

export interface AccessChangeResult {
  tenant: Tenant;
  /** False when the tenant was already in the requested state (the command was harmless). */
  changed: boolean;
  /** Whether the database itself enforces it (false with shared credentials on PostgreSQL/MySQL). */
  enforced: boolean;
  message: string;
}

interface AccessChange {
  /** The status this change leads to; a tenant already there (with no step pending) is a no-op. */
  target: 'active' | 'suspended';
  step: 'suspend' | 'reactivate';
  /** Acts on the database; returns whether the database enforces it. */
  apply: (server: ServerConnection, row: TenantRow, registry: Knex) => Promise<boolean>;
  reason: string | null;
  /** What else the final registry update records (reactivate forgets the jobs it enabled). */
  finish?: Partial<TenantRow>;
}

/**
 * The shared shape of suspend and reactivate: only active or suspended tenants, never in the
 * middle of a restore; under the tenant's lock, the step is recorded before the database is
 * touched, so a killed run is finished by running it again. Repeating it re-applies the change
 * (harmless) and reports it unchanged.
 */
async function changeAccess(
  ctx: Context,
  slug: string,
  change: AccessChange,
): Promise<{ row: TenantRow; tenant: Tenant; changed: boolean; enforced: boolean }> {
  validateText('reason', change.reason);
  const row = await loadTenantRow(ctx, slug);
  if (row.status !== 'active' && row.status !== 'suspended') {
    throw new ConflictError(
      `tenant "${slug}" is ${row.status}: only an active or suspended tenant can be ${change.step === 'suspend' ? 'suspended' : 'reactivated'}`,
    );
  }
  assertNotMoving(row, change.step === 'suspend' ? 'suspended' : 'reactivated');
  if (row.step === 'restore')
    throw new ConflictError(`tenant "${slug}" is in the middle of a restore: run restore again to finish it`);
  return withTenantLock(ctx, slug, async () => {
    const registry = await ctx.registry();
    const fresh = await loadTenantRow(ctx, slug);
    const server = (await ctx.server(fresh.server_id)).connection;
    const already = fresh.status === change.target && fresh.step === null;
    // A suspension's reason is recorded with its step, before the database is touched.
    const reason = change.target === 'suspended' ? { status_reason: change.reason } : {};
    if (!already) await updateTenantRow(registry.knex, fresh.id, { step: change.step, ...reason });
    try {
      const enforced = await change.apply(server, fresh, registry.knex);
      if (!already)
        await updateTenantRow(registry.knex, fresh.id, {
          status: change.target,
          step: null,
          status_reason: change.reason,
          ...change.finish,
          // An earlier failure of this same change is over now.
          ...(fresh.last_error?.startsWith(`${change.step} failed`) ? { last_error: null } : {}),
        });
      return { row: fresh, tenant: await reloadTenant(ctx, slug), changed: !already, enforced };
    } catch (error) {
      if (!already) await recordFailure(ctx, server, fresh, change, error);
      throw new OperationError(slug, change.step, error);
    }
  });
}

/**
 * A change that failed (it was not killed: it ran to an error) is undone and recorded as failed,
 * not left looking interrupted: the database gets the access the tenant's status says, the step is
 * cleared and the error kept on the tenant (`show` → lastError). Only when the undo fails too does
 * the step stay, for `doctor` to report and the same command to finish.
 */
async function recordFailure(
  ctx: Context,
  server: ServerConnection,
  row: TenantRow,
  change: AccessChange,
  error: unknown,
): Promise<void> {
  const registry = await ctx.registry();
  const lastError = `${change.step} failed: ${errorMessage(error)}`;
  try {
    try {
      if (row.status === 'suspended') await server.suspendAccess(row.database_name, row.database_user);
      else {
        await server.resumeAccess(row.database_name, row.database_user);
        // The jobs a failed suspend disabled already (recorded before each was) run again.
        const now = await loadTenantRow(ctx, row.slug);
        await server.scheduledJobs?.setJobsEnabled(row.database_name, suspendedJobs(now), true);
      }
    } catch (undo) {
      // The user or database is gone (what made the change fail, often): nothing to undo.
      if (!server.driver.isGoneError(undo)) throw undo;
    }
    await updateTenantRow(registry.knex, row.id, {
      step: null,
      last_error: lastError,
      status_reason: row.status_reason,
      ...(row.status === 'suspended' ? {} : { suspended_jobs: null }),
    });
  } catch (undo) {
    await updateTenantRow(registry.knex, row.id, {
      last_error: `${lastError}; undoing it failed too: ${errorMessage(undo)}`,
    }).catch(() => undefined);
  }
}

/**
 * Suspends a tenant in the database itself (see ServerConnection.suspendAccess) and records
 * when and why; suspending a suspended tenant re-checks the lock and says so.
 */
export async function suspendTenant(ctx: Context, slug: string, reason: string): Promise<AccessChangeResult> {
  const { row, tenant, changed, enforced } = await changeAccess(ctx, slug, {
    target: 'suspended',
    step: 'suspend',
    reason,
    apply: async (server, t, registry) => {
      // The user first, so that no session of the tenant's adds a job after they are listed.
      const enforced = await server.suspendAccess(t.database_name, t.database_user);
      if (enforced) await disableScheduledJobs(server, t, registry, ctx.hooks);
      return enforced;
    },
  });
  const message = changed
    ? `suspended tenant "${slug}"${enforced ? '' : ' in the registry only: it shares the server credentials, so the database cannot lock it out'}`
    : `tenant "${slug}" was already suspended (${row.status_reason ?? 'no reason given'}); its access is locked`;
  return { tenant, changed, enforced, message };
}

/** Reverses exactly what suspend did; reactivating an active tenant is harmless and says so. */
export async function reactivateTenant(ctx: Context, slug: string): Promise<AccessChangeResult> {
  const { tenant, changed } = await changeAccess(ctx, slug, {
    target: 'active',
    step: 'reactivate',
    reason: null,
    apply: async (server, t) => {
      // Locked again with its own password first: a loan a killed tenantctl left open ends here.
      if (t.status !== 'active' || t.step) await restoreOwnPassword(ctx, server, t);
      await server.resumeAccess(t.database_name, t.database_user);
      await server.scheduledJobs?.setJobsEnabled(t.database_name, suspendedJobs(t), true);
      return true;
    },
    finish: { suspended_jobs: null },
  });
  return {
    tenant,
    changed,
    enforced: true,
    message: changed ? `reactivated tenant "${slug}"` : `tenant "${slug}" is already active`,
  };
}

/** The jobs a suspend disabled and recorded (suspended_jobs): those reactivate enables again. */
function suspendedJobs(row: TenantRow): string[] {
  return row.suspended_jobs ? (JSON.parse(row.suspended_jobs) as string[]) : [];
}

/**
 * Disables the tenant's enabled scheduled jobs, which would otherwise go on writing while its user
 * is locked out. Their names are recorded before they are disabled, added to what an interrupted
 * suspend recorded already, so reactivate enables exactly the jobs suspend disabled (never one the
 * tenant had disabled itself), however often suspend was killed and run again. Also for a
 * suspended tenant's restored database, whose jobs come back as they were when it was dumped.
 * `hooks.atStep('suspend-job-disabled')` after each job (a test kills the suspend there).
 */
export async function disableScheduledJobs(
  server: ServerConnection,
  row: TenantRow,
  registry: Knex,
  hooks?: OperationHooks,
): Promise<void> {
  const jobs = server.scheduledJobs;
  if (!jobs) return;
  const enabled = await jobs.enabledJobs(row.database_name);
  const recorded = suspendedJobs(row);
  const all = [...recorded, ...enabled.filter((name) => !recorded.includes(name))];
  if (all.length > recorded.length) await updateTenantRow(registry, row.id, { suspended_jobs: JSON.stringify(all) });
  for (const name of enabled) {
    await jobs.setJobsEnabled(row.database_name, [name], false);
    await hooks?.atStep?.('suspend-job-disabled');
  }
}
