import type { Knex } from 'knex';
import { severKnex } from '../../engines/connection-guard.js';

/** The part of a knex instance's client that stops the statement a session is running. */
interface KnexInternals {
  pool?: { used?: Array<{ resource: unknown }> };
  /** Knex's own per-dialect cancel, over a connection of its own (PostgreSQL pg_cancel_backend, MySQL KILL QUERY). */
  cancelQuery?(connection: unknown): Promise<unknown>;
}

/**
 * How a tenant's work can end early: its deadline passed, its server stopped answering, or the
 * run was cut from outside (a second Ctrl-C, a lost registry).
 */
export interface Cutoff<T> {
  /** `--tenant-timeout`; undefined: none. */
  ms?: number;
  /** The server's `lost` signal (see ServerConnection.watch). */
  lost?: AbortSignal;
  timedOut: () => T;
  /** What the work ends as when its server was lost (the signal's reason). */
  serverLost: (reason: unknown) => T;
  /** The run's cut signal (RunInterrupt.cut), with what the work ends as when it fires. */
  cut?: { signal: AbortSignal | undefined; settle: () => T };
}

type Ending = 'late' | 'lost' | 'cut';

/**
 * Runs `work`, which reports the knex it opens through `opened`, until it ends or is cut off:
 * when the deadline passes, the server is lost or the run is cut first, the statement running is
 * cancelled where the engine can, the knex's connections are cut (the server ends the session and
 * rolls back its open transaction) and the pool destroyed without waiting on the server, and
 * `timedOut()`, `serverLost()` or `cut.settle()` is returned at once. The run goes on without
 * waiting for the abandoned work (user code may never settle), whose late result is ignored; a
 * knex it opens after that is cut as soon as it is reported.
 */
export async function withCutoff<T>(cutoff: Cutoff<T>, work: (opened: (knex: Knex) => void) => Promise<T>): Promise<T> {
  const cut = cutoff.cut?.signal;
  if (!cutoff.ms && !cutoff.lost && !cut) return work(() => {});
  cutoff.lost?.throwIfAborted();
  if (cut?.aborted) return cutoff.cut!.settle();
  let knex: Knex | undefined;
  let abandoned: { reason: Error; cancel: boolean } | undefined;
  let timer: NodeJS.Timeout | undefined;
  const listeners: Array<[AbortSignal, () => void]> = [];
  const running = work((k) => {
    knex = k;
    if (abandoned) abandon(k, abandoned.reason, abandoned.cancel);
  });
  const ended = new Promise<Ending>((resolve) => {
    if (cutoff.ms) timer = setTimeout(() => resolve('late'), cutoff.ms);
    for (const [signal, ending] of [
      [cutoff.lost, 'lost'],
      [cut, 'cut'],
    ] as const) {
      if (!signal) continue;
      const listener = () => resolve(ending);
      signal.addEventListener('abort', listener, { once: true });
      listeners.push([signal, listener]);
    }
  });
  let first: Awaited<T> | Ending;
  try {
    first = await Promise.race([running, ended]);
  } finally {
    clearTimeout(timer);
    for (const [signal, listener] of listeners) signal.removeEventListener('abort', listener);
  }
  if (first !== 'late' && first !== 'lost' && first !== 'cut') return first;
  running.catch(() => undefined);
  const reason =
    first === 'lost'
      ? (cutoff.lost!.reason as Error)
      : new Error(first === 'late' ? 'stopped at --tenant-timeout' : 'cut: the run was interrupted');
  abandoned = { reason, cancel: first !== 'lost' };
  if (knex) abandon(knex, abandoned.reason, abandoned.cancel);
  if (first === 'lost') return cutoff.serverLost(cutoff.lost!.reason);
  return first === 'late' ? cutoff.timedOut() : cutoff.cut!.settle();
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
