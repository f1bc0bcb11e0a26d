import type { AppContext } from '../context/app-context.js';
import { LockedError } from '../core/errors.js';

/** The lock every schema-changing command holds: migrate, migrate-all, rollback. */
export const MIGRATIONS_LOCK = 'tenantctl:migrations';

/**
 * Runs `fn` holding a fleet-wide lock in the registry database (PostgreSQL advisory lock, MySQL
 * GET_LOCK, SQLite an OS file lock). Busy: waits up to `waitMs`, then throws
 * LockedError. A killed holder's lock goes with its session, so nothing needs unlocking by hand.
 */
export async function withFleetLock<T>(
  ctx: AppContext,
  name: string,
  waitMs: number,
  what: string,
  fn: () => Promise<T>,
): Promise<T> {
  const registry = await ctx.registry();
  const lock = await registry.tryLock(name, waitMs);
  if (!lock) {
    throw new LockedError(
      `another ${what} is running${waitMs > 0 ? ` (waited ${Math.round(waitMs / 1000)}s)` : ''}; use --wait to queue behind it`,
    );
  }
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
