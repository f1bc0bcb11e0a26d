import type { AppContext } from '../context/app-context.js';
import { ConflictError } from '../core/errors.js';
import { updateTenantRow, type Tenant } from '../registry/tenants-repo.js';
import { loadTenantRow, reloadTenant } from './load-tenant.js';
import { withTenantLock } from './tenant-lock.js';

export interface AccessChangeResult {
  tenant: Tenant;
  /** False when the tenant was already in the requested state (the command was harmless). */
  changed: boolean;
  /** Whether the database itself enforces it (false with shared credentials on PostgreSQL/MySQL). */
  enforced: boolean;
  message: string;
}

/**
 * Suspends a tenant in the database itself (see ServerConnection.suspendAccess) and records
 * when and why. Recorded as step `suspend` before it acts, so a killed suspend is finished by
 * running it again; suspending a suspended tenant re-checks the lock and says so.
 */
export async function suspendTenant(ctx: AppContext, slug: string, reason: string): Promise<AccessChangeResult> {
  const row = await loadTenantRow(ctx, slug);
  if (row.status !== 'active' && row.status !== 'suspended') {
    throw new ConflictError(`tenant "${slug}" is ${row.status}: only an active tenant can be suspended`);
  }
  if (row.step === 'restore') throw new ConflictError(`tenant "${slug}" is in the middle of a restore: run restore again to finish it`);
  return withTenantLock(ctx, slug, async () => {
    const registry = await ctx.registry();
    const fresh = await loadTenantRow(ctx, slug);
    const server = (await ctx.server(fresh.server_id)).connection;
    const already = fresh.status === 'suspended' && fresh.step === null;
    if (!already) await updateTenantRow(registry.knex, fresh.id, { step: 'suspend' });
    const enforced = await server.suspendAccess(fresh.database_name, fresh.database_user);
    if (!already) await updateTenantRow(registry.knex, fresh.id, { status: 'suspended', step: null, status_reason: reason });
    const tenant = await reloadTenant(ctx, slug);
    return {
      tenant,
      changed: !already,
      enforced,
      message: already
        ? `tenant "${slug}" was already suspended (${fresh.status_reason ?? 'no reason given'}); its access is locked`
        : `suspended tenant "${slug}"${enforced ? '' : ' in the registry only: it shares the server credentials, so the database cannot lock it out'}`,
    };
  });
}

/** Reverses exactly what suspend did; reactivating an active tenant is harmless and says so. */
export async function reactivateTenant(ctx: AppContext, slug: string): Promise<AccessChangeResult> {
  const row = await loadTenantRow(ctx, slug);
  if (row.status !== 'active' && row.status !== 'suspended') {
    throw new ConflictError(`tenant "${slug}" is ${row.status}: only a suspended tenant can be reactivated`);
  }
  if (row.step === 'restore') throw new ConflictError(`tenant "${slug}" is in the middle of a restore: run restore again to finish it`);
  return withTenantLock(ctx, slug, async () => {
    const registry = await ctx.registry();
    const fresh = await loadTenantRow(ctx, slug);
    const server = (await ctx.server(fresh.server_id)).connection;
    const already = fresh.status === 'active' && fresh.step === null;
    if (!already) await updateTenantRow(registry.knex, fresh.id, { step: 'reactivate' });
    await server.resumeAccess(fresh.database_name, fresh.database_user);
    if (!already) await updateTenantRow(registry.knex, fresh.id, { status: 'active', step: null, status_reason: null });
    return {
      tenant: await reloadTenant(ctx, slug),
      changed: !already,
      enforced: true,
      message: already ? `tenant "${slug}" is already active` : `reactivated tenant "${slug}"`,
    };
  });
}
