import type { Knex } from 'knex';

/** The parts of a knex instance's client that let a stuck session be cut off. */
interface KnexInternals {
  pool?: { used?: Array<{ resource: unknown }> };
  destroyRawConnection(connection: unknown): Promise<void>;
  /** Knex's own per-dialect cancel, over a connection of its own (PostgreSQL pg_cancel_backend, MySQL KILL QUERY). */
  cancelQuery?(connection: unknown): Promise<unknown>;
}

/**
 * Runs `work` with a deadline. `work` reports the knex it opens through `opened`. When the
 * deadline passes first, the statement running is cancelled where the engine can, the connections
 * in use are closed and the pool destroyed (the server ends the session and rolls back its open
 * transaction), and `timedOut()` is returned at once:
 * the run goes on without waiting for the abandoned work, whose late result is ignored.
 */
export async function withDeadline<T>(
  ms: number | undefined,
  work: (opened: (knex: Knex) => void) => Promise<T>,
  timedOut: () => T,
): Promise<T> {
  if (!ms) return work(() => {});
  let knex: Knex | undefined;
  let timer: NodeJS.Timeout | undefined;
  const running = work((k) => (knex = k));
  const deadline = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  try {
    const first = await Promise.race([running, deadline]);
    if (first !== 'late') return first;
  } finally {
    clearTimeout(timer);
  }
  running.catch(() => undefined);
  if (knex) abandon(knex);
  return timedOut();
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
