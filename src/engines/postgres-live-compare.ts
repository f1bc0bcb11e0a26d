import { TenantctlError, errorMessage } from '../core/errors.js';
import type { ContentFingerprint } from './content-fingerprint.js';
import type { EngineDriver, LiveComparison, TenantConnections, TenantLogin } from './engine-driver.js';
import { postgresFingerprint } from './postgres-fingerprint.js';
import { withLoginSession } from './tenant-session.js';

/** A server's tenant sessions (see withLoginSession). */
type Sessions = TenantConnections & { readonly driver: EngineDriver };

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * How long the source's tables may wait for the write lock (a long transaction of the tenant's
 * holds it up, and the tenant's writes queue behind the wait) before the comparison is left to
 * the fence.
 */
const LOCK_WAIT_MS = 2_000;
/** How long the tenant's writes may stay paused while the target catches up. */
const PAUSE_LIMIT_MS = 5_000;

/** Thrown by the catch-up wait when the target did not apply in time (not a broken replication). */
export class NotAppliedInTime extends TenantctlError {}

/**
 * A REPEATABLE READ, READ ONLY session as `login` that takes its snapshot at once and holds it
 * until told to fingerprint it (or to let it go): the snapshot outlives the write lock that made
 * it a consistent point, while the checksums take as long as the data needs.
 */
class HeldSnapshot {
  /** Resolves once the snapshot is taken; rejects if the session failed first. */
  readonly taken: Promise<void>;
  private proceed!: (fingerprint: boolean) => void;
  private readonly done: Promise<ContentFingerprint | null>;

  constructor(sessions: Sessions, login: TenantLogin) {
    let took!: () => void;
    const tookSnapshot = new Promise<void>((resolve) => (took = resolve));
    const told = new Promise<boolean>((resolve) => (this.proceed = resolve));
    this.done = withLoginSession(sessions, login, (knex) =>
      knex.transaction(async (trx) => {
        await trx.raw('set transaction isolation level repeatable read, read only');
        await trx.raw('select 1'); // a repeatable read transaction's snapshot is taken by its first query
        took();
        return (await told) ? postgresFingerprint(trx) : null;
      }),
    );
    this.done.catch(() => {}); // finish() reports it; never an unhandled rejection meanwhile
    this.taken = Promise.race([
      tookSnapshot,
      this.done.then(() => {
        throw new TenantctlError('the snapshot session ended before its snapshot was taken');
      }),
    ]);
  }

  /** Fingerprints the snapshot (or just ends the session) and returns what it read. */
  finish(fingerprint: boolean): Promise<ContentFingerprint | null> {
    this.proceed(fingerprint);
    return this.done;
  }
}

/** A reason the comparison is left to the fence (the move goes on): not an error of the move. */
class Skip extends Error {}

/**
 * Both copies' fingerprints at one point of the change stream, the tenant working meanwhile (see
 * OnlineMoves.compareLive). On the source, as the tenant: every table locked IN EXCLUSIVE MODE
 * (reads go on, writes wait), a snapshot taken, the target waited for until it has applied the
 * source's WAL position (`awaitApplied`), a snapshot taken on the target, the locks let go. The
 * two snapshots then hold the same rows, and each server checksums its own at leisure.
 */
export async function compareLive(
  source: Sessions,
  sourceLogin: TenantLogin,
  target: Sessions,
  targetLogin: TenantLogin,
  awaitApplied: (timeoutMs: number) => Promise<void>,
): Promise<LiveComparison> {
  const held: HeldSnapshot[] = [];
  let pausedMs = 0;
  try {
    await withLoginSession(source, sourceLogin, (knex) =>
      knex.transaction(async (trx) => {
        const listed = await trx.raw(
          "select table_schema as schema, table_name as name from information_schema.tables where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema') order by 1, 2",
        );
        const tables = (listed.rows as Array<{ schema: string; name: string }>).map(
          (t) => `${quote(t.schema)}.${quote(t.name)}`,
        );
        await trx.raw(`set local lock_timeout = ${LOCK_WAIT_MS}`);
        const pausedAt = Date.now();
        if (tables.length) {
          try {
            await trx.raw(`lock table ${tables.join(', ')} in exclusive mode`);
          } catch (error) {
            throw new Skip(`the tenant's tables could not be locked for a moment (${errorMessage(error)})`);
          }
        }
        const onSource = new HeldSnapshot(source, sourceLogin);
        held.push(onSource);
        await onSource.taken;
        try {
          await awaitApplied(PAUSE_LIMIT_MS);
        } catch (error) {
          if (error instanceof NotAppliedInTime)
            throw new Skip(`the target did not catch up within ${PAUSE_LIMIT_MS} ms of paused writes`);
          throw error;
        }
        const onTarget = new HeldSnapshot(target, targetLogin);
        held.push(onTarget);
        await onTarget.taken;
        pausedMs = Date.now() - pausedAt;
      }),
    );
  } catch (error) {
    await Promise.allSettled(held.map((h) => h.finish(false)));
    if (error instanceof Skip) return { skipped: error.message };
    throw error;
  }
  const [s, t] = await Promise.all(held.map((h) => h.finish(true)));
  return { source: s!, target: t!, pausedMs };
}
