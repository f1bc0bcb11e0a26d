import type { Context } from '../../context/context.js';
import { LockedError } from '../../core/errors.js';

/**
 * Runs `fn` holding the tenant's lock in the registry, so two commands never work on one tenant
 * at once. The lock is session-scoped (an OS file lock on SQLite): a killed command
 * leaves nothing to unlock, and its tenant's `provisioning` state can be taken over safely.
 */
/** The registry lock name of one tenant: every operation that changes its database takes it. */
export function tenantLockName(slug: string): string {
  return `tenantctl:tenant:${slug}`;
}

export async function withTenantLock<T>(ctx: Context, slug: string, fn: () => Promise<T>): Promise<T> {
  const registry = await ctx.registry();
  const lock = await registry.tryLock(tenantLockName(slug), 0);
  if (!lock)
    throw new LockedError(`another tenantctl is working on tenant "${slug}" right now; try again when it is done`);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
