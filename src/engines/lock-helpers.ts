import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
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
 * never take the connection that operation's queries need. The connection ending or failing (the
 * server restarted) means the server dropped the lock: `lost` is aborted at once, and releasing
 * it then only gives the connection back.
 */
export async function lockOnDedicatedConnection(
  knex: Knex,
  attempt: (connection: unknown) => Promise<boolean>,
  unlock: (connection: unknown) => Promise<void>,
): Promise<HeldLock | undefined> {
  const client = knex.client as LockClient;
  const connection = await client.acquireConnection();
  let got: boolean;
  try {
    got = await attempt(connection);
  } catch (error) {
    // Whatever state the session is in (it may hold the lock after all), it must not be reused.
    severConnection(connection, error as Error);
    await client.releaseConnection(connection);
    throw error;
  }
  if (!got) {
    await client.releaseConnection(connection);
    return undefined;
  }
  return held(client, connection, unlock);
}

/** The parts of a knex client a lock holds its connection with. */
interface LockClient {
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<void>;
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
      } catch (error) {
        // The session is going away (its error may come before the connection says so) or in an
        // unknown state: ending it is what drops the lock for sure. The pool discards it.
        severConnection(connection, error as Error);
      } finally {
        await client.releaseConnection(connection);
      }
    },
  };
}
