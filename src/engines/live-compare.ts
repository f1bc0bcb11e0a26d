import type { Knex } from 'knex';
import { TenantctlError, errorMessage } from '../core/errors.js';
import type { ContentFingerprint } from './content-fingerprint.js';
import type { EngineDriver, LiveComparison, TenantConnections, TenantLogin, WriteMarks } from './engine-driver.js';
import { withLoginSession } from './tenant-session.js';

/** A server's tenant sessions (see withLoginSession). */
type Sessions = TenantConnections & { readonly driver: EngineDriver };

/**
 * How long the source's tables may wait for the write lock (a long transaction of the tenant's
 * holds it up, and the tenant's writes queue behind the wait) before the comparison is left to
 * the fence.
 */
export const LOCK_WAIT_MS = 2_000;
/** How long the tenant's writes may stay paused while the target catches up (then: left to the fence). */
const PAUSE_LIMIT_MS = 5_000;

/** Thrown by the catch-up wait when the target did not apply in time (not a broken replication). */
export class NotAppliedInTime extends TenantctlError {}

/** What an engine's live comparison does in its own SQL; the order of things is compareLive's. */
export interface LiveCompareDialect {
  /**
   * On a transaction of the source's tenant session: every table of the database locked against
   * writes (reads go on), waiting at most LOCK_WAIT_MS; held until `unlock` or the transaction's end.
   */
  lockForWrites(trx: Knex.Transaction, database: string): Promise<void>;
  /** Lets the locks go (where the transaction's end does not). */
  unlock(trx: Knex.Transaction): Promise<void>;
  /** Makes `trx` a read-only transaction whose snapshot is taken now. */
  takeSnapshot(trx: Knex.Transaction): Promise<void>;
  /** Every table's row count and checksum in that snapshot. */
  fingerprint(trx: Knex.Transaction, database: string): Promise<ContentFingerprint>;
}

/**
 * A read-only snapshot transaction as `login` (see LiveCompareDialect.takeSnapshot), kept open
 * until told to fingerprint its snapshot (or to let it go): the snapshot outlives the write lock
 * that made it a consistent point, while the checksums take as long as the data needs.
 */
class HeldSnapshot {
  /** Resolves once the snapshot is taken; rejects if the session failed first. */
  readonly taken: Promise<void>;
  private proceed!: (fingerprint: boolean) => void;
  private readonly done: Promise<ContentFingerprint | null>;

  constructor(sessions: Sessions, login: TenantLogin, dialect: LiveCompareDialect) {
    let took!: () => void;
    const tookSnapshot = new Promise<void>((resolve) => (took = resolve));
    const told = new Promise<boolean>((resolve) => (this.proceed = resolve));
    this.done = withLoginSession(sessions, login, (knex) =>
      knex.transaction(async (trx) => {
        await dialect.takeSnapshot(trx);
        took();
        return (await told) ? dialect.fingerprint(trx, login.database) : null;
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
 * OnlineMoves.compareLive). On the source, as the tenant: every table locked against writes
 * (reads go on, writes wait), a snapshot taken, the target waited for until it has applied the
 * source's position in its change stream (`awaitApplied`), a snapshot taken on the target, the
 * locks let go. The two snapshots then hold the same rows, and each server checksums its own at
 * leisure. The source's write marks (`readMarks`) are read while the lock is held: inside the
 * fence they tell which tables were written after that point.
 */
export async function compareLive(
  dialect: LiveCompareDialect,
  source: Sessions,
  sourceLogin: TenantLogin,
  target: Sessions,
  targetLogin: TenantLogin,
  awaitApplied: (timeoutMs: number) => Promise<void>,
  readMarks: () => Promise<WriteMarks>,
): Promise<LiveComparison> {
  const held: HeldSnapshot[] = [];
  let pausedMs = 0;
  let marks: WriteMarks = {};
  try {
    await withLoginSession(source, sourceLogin, (knex) =>
      knex.transaction(async (trx) => {
        const pausedAt = Date.now();
        try {
          await dialect.lockForWrites(trx, sourceLogin.database);
        } catch (error) {
          throw new Skip(`the tenant's tables could not be locked for a moment (${errorMessage(error)})`);
        }
        const onSource = new HeldSnapshot(source, sourceLogin, dialect);
        held.push(onSource);
        [marks] = await Promise.all([readMarks(), onSource.taken]);
        try {
          await awaitApplied(PAUSE_LIMIT_MS);
        } catch (error) {
          if (error instanceof NotAppliedInTime)
            throw new Skip(`the target did not catch up within ${PAUSE_LIMIT_MS} ms of paused writes`);
          throw error;
        }
        const onTarget = new HeldSnapshot(target, targetLogin, dialect);
        held.push(onTarget);
        await onTarget.taken;
        await dialect.unlock(trx);
        pausedMs = Date.now() - pausedAt;
      }),
    );
  } catch (error) {
    await Promise.allSettled(held.map((h) => h.finish(false)));
    if (error instanceof Skip) return { skipped: error.message };
    throw error;
  }
  const [s, t] = await Promise.all(held.map((h) => h.finish(true)));
  return { source: s!, target: t!, pausedMs, marks };
}
