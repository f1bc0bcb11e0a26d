import type { Knex } from 'knex';
import { untilCut } from '../core/run-interrupt.js';

/** The parts of a knex instance's client that let a stuck session be cut off. */
interface KnexInternals {
  pool?: { used?: Array<{ resource: unknown }> };
  destroyRawConnection(connection: unknown): Promise<void>;
  /** Knex's own per-dialect cancel, over a connection of its own (PostgreSQL pg_cancel_backend, MySQL KILL QUERY). */
  cancelQuery?(connection: unknown): Promise<unknown>;
}

/** Ends a tenant's work early from outside: a signal (Ctrl-C twice, a lost registry) and what to settle with. */
export interface CutOff<T> {
  signal: AbortSignal | undefined;
  cut: () => T;
}

/**
 * Runs `work` with a deadline, and with `cutOff` also until its signal is aborted. `work`
 * reports the knex it opens through `opened`. When the deadline passes (or the signal fires)
 * first, the statement running is cancelled where the engine can, the connections in use are
 * closed and the pool destroyed (the server ends the session and rolls back its open
 * transaction), and `timedOut()` (or `cutOff.cut()`) is returned at once: the run goes on without
 * waiting for the abandoned work, whose late result is ignored.
 */
export async function withDeadline<T>(
  ms: number | undefined,
  work: (opened: (knex: Knex) => void) => Promise<T>,
  timedOut: () => T,
  cutOff?: CutOff<T>,
): Promise<T> {
  if (!ms && !cutOff?.signal) return work(() => {});
  let knex: Knex | undefined;
  let abandoned = false;
  let timer: NodeJS.Timeout | undefined;
  // A knex opened after the work was given up is cut off as soon as it is reported.
  const running = work((k) => {
    knex = k;
    if (abandoned) abandon(k);
  });
  const late = Symbol('late');
  const deadline = new Promise<typeof late>((resolve) => {
    if (ms) timer = setTimeout(() => resolve(late), ms);
  });
  const cut = Symbol('cut');
  type Outcome = T | typeof late | typeof cut;
  let outcome: Outcome;
  try {
    outcome = await untilCut<Outcome>(Promise.race([running, deadline]), cutOff?.signal, () => cut);
  } finally {
    clearTimeout(timer);
  }
  if (outcome !== late && outcome !== cut) return outcome;
  running.catch(() => undefined);
  abandoned = true;
  if (knex) abandon(knex);
  return outcome === late ? timedOut() : cutOff!.cut();
}

function abandon(knex: Knex): void {
  const client = knex.client as KnexInternals;
  for (const { resource } of client.pool?.used ?? []) {
    // Both at once: the closed socket stops the migration from sending anything more, and the
    // cancel (over a connection of its own) stops the statement the server is running.
    void client.destroyRawConnection(resource).catch(() => undefined);
    if (client.cancelQuery)
      void Promise.resolve()
        .then(() => client.cancelQuery!(resource))
        .catch(() => undefined);
  }
  void knex.destroy().catch(() => undefined);
}
