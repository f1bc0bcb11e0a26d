import type { Context } from '../../context/context.js';
import { LockedError } from '../../core/errors.js';
import type { HeldLock } from '../../engines/engine-driver.js';

/** The lock every schema-changing command holds: migrate, migrate-all, rollback. */
export const MIGRATIONS_LOCK = 'tenantctl:migrations';

/**
 * Runs `fn` holding a fleet-wide lock in the registry database (PostgreSQL advisory lock, MySQL
 * GET_LOCK, SQLite an OS file lock). Busy: waits up to `waitMs`, then throws
 * LockedError. A killed holder's lock goes with its session, so nothing needs unlocking by hand.
 * `fn` gets the lock, whose `lost` says when the registry session holding it is gone.
 */
export async function withFleetLock<T>(
  ctx: Context,
  name: string,
  waitMs: number,
  what: string,
  fn: (lock: HeldLock) => Promise<T>,
): Promise<T> {
  const registry = await ctx.registry();
  const lock = await registry.tryLock(name, waitMs);
  if (!lock) {
    throw new LockedError(
      `another ${what} is running${waitMs > 0 ? ` (waited ${Math.round(waitMs / 1000)}s)` : ''}; use --wait to queue behind it`,
    );
  }
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}
