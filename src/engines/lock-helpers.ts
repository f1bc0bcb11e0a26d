import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import type { HeldLock } from './engine-driver.js';
import { severConnection } from './connection-guard.js';

/** A stable signed 64-bit key for a lock name (PostgreSQL advisory locks take a bigint). */
export function lockKey64(name: string): string {
  return createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Most session locks held at once through one registry: in effect no limit, since each held lock
 * is one session and an operation may hold several (its tenant's, placement's, secret writes').
 */
export const LOCK_POOL_MAX = 1000;

/** A lock connection idle this long is closed: a fleet run reuses them, a quiet process holds none. */
export const LOCK_IDLE_MS = 10_000;

/** How much longer than a lock wait its connection waits for an answer (the server's own timeout answers first). */
export const LOCK_ANSWER_MARGIN_MS = 5000;

/**
 * Holds one connection for the lifetime of a session-scoped lock: `attempt` takes the lock on it
 * (waiting in the server's own queue, first come first served, when it waits at all) and says
 * whether it got it; `unlock` runs on the same connection before it goes back to the pool. The
 * knex should be one only locks use (Registry.tryLock's): a lock held across an operation must
 * never take the connection that operation's queries need.
 */
export async function lockOnDedicatedConnection(
  knex: Knex,
  attempt: (connection: unknown) => Promise<boolean>,
  unlock: (connection: unknown) => Promise<void>,
): Promise<HeldLock | undefined> {
  const client = knex.client as { acquireConnection(): Promise<unknown>; releaseConnection(c: unknown): Promise<void> };
  const connection = await client.acquireConnection();
  let held: boolean;
  try {
    held = await attempt(connection);
  } catch (error) {
    // Whatever state the session is in (it may hold the lock after all), it must not be reused.
    severConnection(connection, error as Error);
    await client.releaseConnection(connection);
    throw error;
  }
  if (!held) {
    await client.releaseConnection(connection);
    return undefined;
  }
  return {
    release: async () => {
      try {
        await unlock(connection);
      } catch (error) {
        // A session that may still hold the lock is ended, which frees it, rather than pooled.
        severConnection(connection, error as Error);
        throw error;
      } finally {
        await client.releaseConnection(connection);
      }
    },
  };
}
