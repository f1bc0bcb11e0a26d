import knexFactory, { type Knex } from 'knex';
import type { AppContext } from '../context/app-context.js';
import type { HeldLock } from '../engines/engine-driver.js';
import { findTenantRow } from '../registry/tenants-repo.js';
import { tenantLockName } from './tenant-lock.js';

/** A tenant's lock taken without waiting: held, or busy with what holds it when the registry says. */
export type TenantLockAttempt = { held: HeldLock } | { busy: string };

/**
 * Tenant locks for a fleet run's workers. Session locks (PostgreSQL, MySQL) each hold a registry
 * connection, and the registry's own pool is kept small; the workers' locks get a pool of their
 * own, one connection per worker, opened lazily and closed with `close`.
 */
export interface TenantLockPool {
  /** Tries the tenant's lock once, never waiting. */
  tryHold(slug: string): Promise<TenantLockAttempt>;
  close(): Promise<void>;
}

export async function openTenantLockPool(ctx: AppContext, size: number): Promise<TenantLockPool> {
  const registry = await ctx.registry();
  const base = registry.driver.adminKnexConfig(registry.spec);
  let knex: Knex | undefined;
  return {
    async tryHold(slug) {
      knex ??= knexFactory({ ...base, pool: { ...(base.pool ?? {}), min: 0, max: Math.max(1, size) } });
      const held = await registry.tryLockOn(knex, tenantLockName(slug), 0);
      if (held) return { held };
      return { busy: await lockHolder(ctx, slug) };
    },
    async close() {
      await knex?.destroy();
    },
  };
}

/**
 * What holds a tenant's lock, as far as the registry knows: operations record their step before
 * acting (`restore`, `suspend`, a `delete` step…). Without one, only that another tenantctl does.
 */
export async function lockHolder(ctx: AppContext, slug: string): Promise<string> {
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
