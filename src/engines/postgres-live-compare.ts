import { LOCK_WAIT_MS, type LiveCompareDialect } from './live-compare.js';
import { postgresFingerprint, postgresTables } from './postgres-fingerprint.js';

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * PostgreSQL's live comparison (see compareLive): the tables locked IN EXCLUSIVE MODE (plain
 * reads go on, every write waits) until the lock's transaction ends; a REPEATABLE READ snapshot.
 */
export const postgresLiveCompare: LiveCompareDialect = {
  async lockForWrites(trx) {
    const tables = (await postgresTables(trx)).map((t) => `${quote(t.schema)}.${quote(t.name)}`);
    await trx.raw(`set local lock_timeout = ${LOCK_WAIT_MS}`);
    if (tables.length) await trx.raw(`lock table ${tables.join(', ')} in exclusive mode`);
  },
  // The locks last until the transaction ends, which follows at once.
  async unlock() {},
  async takeSnapshot(trx) {
    await trx.raw('set transaction isolation level repeatable read, read only');
    await trx.raw('select 1'); // a repeatable read transaction's snapshot is taken by its first query
  },
  fingerprint: (trx) => postgresFingerprint(trx),
};
