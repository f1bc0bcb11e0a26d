import type { Knex } from 'knex';
import { severKnex } from '../engines/connection-guard.js';

/** The part of a knex instance's client that stops the statement a session is running. */
interface KnexInternals {
  pool?: { used?: Array<{ resource: unknown }> };
  /** Knex's own per-dialect cancel, over a connection of its own (PostgreSQL pg_cancel_backend, MySQL KILL QUERY). */
  cancelQuery?(connection: unknown): Promise<unknown>;
}

/** How a tenant's work can end early: its deadline passed, or its server stopped answering. */
export interface Cutoff<T> {
  /** `--tenant-timeout`; undefined: none. */
  ms?: number;
  /** The server's `lost` signal (see ServerConnection.watch). */
  lost?: AbortSignal;
  timedOut: () => T;
  /** What the work ends as when its server was lost (the signal's reason). */
  serverLost: (reason: unknown) => T;
}

/**
 * Runs `work`, which reports the knex it opens through `opened`, until it ends or is cut off:
 * when the deadline passes or the server is lost first, the statement running is cancelled where
 * the engine can, the knex's connections are cut (the server ends the session and rolls back its
 * open transaction) and the pool destroyed without waiting on the server, and `timedOut()` or
 * `serverLost()` is returned at once. The run goes on without waiting for the abandoned work
 * (user code may never settle), whose late result is ignored.
 */
export async function withCutoff<T>(cutoff: Cutoff<T>, work: (opened: (knex: Knex) => void) => Promise<T>): Promise<T> {
  if (!cutoff.ms && !cutoff.lost) return work(() => {});
  cutoff.lost?.throwIfAborted();
  let knex: Knex | undefined;
  let timer: NodeJS.Timeout | undefined;
  let onLost: (() => void) | undefined;
  const running = work((k) => (knex = k));
  const ended = new Promise<'late' | 'lost'>((resolve) => {
    if (cutoff.ms) timer = setTimeout(() => resolve('late'), cutoff.ms);
    onLost = () => resolve('lost');
    cutoff.lost?.addEventListener('abort', onLost, { once: true });
  });
  let first: Awaited<T> | 'late' | 'lost';
  try {
    first = await Promise.race([running, ended]);
  } finally {
    clearTimeout(timer);
    if (onLost) cutoff.lost?.removeEventListener('abort', onLost);
  }
  if (first !== 'late' && first !== 'lost') return first;
  running.catch(() => undefined);
  const reason = first === 'lost' ? (cutoff.lost!.reason as Error) : new Error('stopped at --tenant-timeout');
  if (knex) abandon(knex, reason, first === 'late');
  return first === 'lost' ? cutoff.serverLost(cutoff.lost!.reason) : cutoff.timedOut();
}

function abandon(knex: Knex, reason: Error, cancel: boolean): void {
  const client = knex.client as KnexInternals;
  // The cancel (over a connection of its own) stops the statement on a live server; the cut
  // sockets stop the migration from sending anything more, whether or not the server answers.
  if (cancel && client.cancelQuery)
    for (const { resource } of client.pool?.used ?? [])
      void Promise.resolve()
        .then(() => client.cancelQuery!(resource))
        .catch(() => undefined);
  void severKnex(knex, reason);
}
