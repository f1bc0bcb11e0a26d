import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { Knex } from 'knex';
import type { HeldLock } from './engine-driver.js';

/** A stable signed 64-bit key for a lock name (PostgreSQL advisory locks take a bigint). */
export function lockKey64(name: string): string {
  return createHash('sha256').update(name).digest().readBigInt64BE(0).toString();
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Holds one pooled connection for the lifetime of a session-scoped lock: `attempt` runs on it
 * until it succeeds or `waitMs` runs out; `unlock` runs on the same connection before it returns
 * to the pool. The connection ending or failing (the server restarted) means the server dropped
 * the lock: `lost` is aborted at once, and releasing it then only gives the connection back.
 */
export async function lockOnDedicatedConnection(
  knex: Knex,
  waitMs: number,
  attempt: (connection: unknown) => Promise<boolean>,
  unlock: (connection: unknown) => Promise<void>,
): Promise<HeldLock | undefined> {
  const client = knex.client as LockClient;
  const connection = await client.acquireConnection();
  const deadline = Date.now() + waitMs;
  try {
    for (;;) {
      if (await attempt(connection)) return held(client, connection, unlock);
      if (Date.now() >= deadline) break;
      await sleep(Math.min(200, Math.max(1, deadline - Date.now())));
    }
  } catch (error) {
    await client.releaseConnection(connection);
    throw error;
  }
  await client.releaseConnection(connection);
  return undefined;
}

/** The parts of a knex client a lock holds its connection with. */
interface LockClient {
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<void>;
  destroyRawConnection(connection: unknown): Promise<void>;
}

function held(client: LockClient, connection: unknown, unlock: (connection: unknown) => Promise<void>): HeldLock {
  const lost = new AbortController();
  const events = connection as Partial<Pick<EventEmitter, 'on' | 'off'>>;
  const gone = (error?: unknown) => {
    if (!lost.signal.aborted)
      lost.abort(
        new Error(`the registry session holding the lock ended${error ? `: ${(error as Error).message}` : ''}`),
      );
  };
  events.on?.('end', gone);
  events.on?.('error', gone);
  return {
    lost: lost.signal,
    release: async () => {
      events.off?.('end', gone);
      events.off?.('error', gone);
      try {
        // A lost session's lock went with it; its connection cannot unlock anything.
        if (!lost.signal.aborted) await unlock(connection);
      } catch {
        // The session is going away (its error may come before the connection says so) or in an
        // unknown state: ending it is what drops the lock for sure. The pool discards it.
        await client.destroyRawConnection(connection).catch(() => undefined);
      } finally {
        await client.releaseConnection(connection);
      }
    },
  };
}
