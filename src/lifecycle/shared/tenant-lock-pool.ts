import type { Context } from '../../context/context.js';
import type { HeldLock } from '../../engines/engine-driver.js';
import { findTenantRow } from '../../registry/tenants-repo.js';
import { tenantLockName } from './tenant-lock.js';

/** A tenant's lock taken without waiting: held, or busy with what holds it when the registry says. */
export type TenantLockAttempt = { held: HeldLock } | { busy: string };

/**
 * Tenant locks for a fleet run's workers: each worker's tenant lock is a session lock of the
 * registry's (Registry.tryLock), on a connection of its own apart from the queries.
 */
export interface TenantLockPool {
  /** Tries the tenant's lock once, never waiting. */
  tryHold(slug: string): Promise<TenantLockAttempt>;
  close(): Promise<void>;
}

export async function openTenantLockPool(ctx: Context): Promise<TenantLockPool> {
  const registry = await ctx.registry();
  return {
    async tryHold(slug) {
      const held = await registry.tryLock(tenantLockName(slug), 0);
      if (held) return { held };
      return { busy: await lockHolder(ctx, slug) };
    },
    async close() {},
  };
}

/**
 * What holds a tenant's lock, as far as the registry knows: operations record their step before
 * acting (`restore`, `suspend`, a `delete` step…). Without one, only that another tenantctl does.
 */
export async function lockHolder(ctx: Context, slug: string): Promise<string> {
  const registry = await ctx.registry();
  const row = await findTenantRow(registry.knex, slug);
  if (row?.step)
    return `busy: ${row.status === 'deleting' ? 'delete' : row.status === 'provisioning' ? 'create' : row.step} in progress`;
  return 'busy: another tenantctl is working on this tenant';
}

/**
 * Runs `fn` holding the tenant's lock, or returns `busy(holder)` at once when another operation
 * holds it. Without a pool (a dry run, which changes nothing) `fn` runs unlocked.
 */
export async function ifTenantFree<T>(
  locks: TenantLockPool | undefined,
  slug: string,
  fn: () => Promise<T>,
  busy: (holder: string) => T,
): Promise<T> {
  if (!locks) return fn();
  const attempt = await locks.tryHold(slug);
  if ('busy' in attempt) return busy(attempt.busy);
  try {
    return await fn();
  } finally {
    await attempt.held.release();
  }
}
