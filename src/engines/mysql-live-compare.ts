import { LOCK_WAIT_MS, type LiveCompareDialect } from './live-compare.js';
import { mysqlFingerprint, mysqlTables } from './mysql-fingerprint.js';

const quote = (name: string) => `\`${name.replaceAll('`', '``')}\``;

/**
 * MySQL/MariaDB's live comparison (see compareLive): the tables under LOCK TABLES … READ (reads
 * go on, every write waits; the lock waits for transactions that wrote to them to end, at most
 * `lock_wait_timeout`) until UNLOCK TABLES; a consistent InnoDB snapshot.
 */
export const mysqlLiveCompare: LiveCompareDialect = {
  async lockForWrites(trx, database) {
    const tables = (await mysqlTables(trx, database)).map((t) => `${quote(database)}.${quote(t)} read`);
    await trx.raw(`set session lock_wait_timeout = ${Math.max(1, Math.round(LOCK_WAIT_MS / 1000))}`);
    if (tables.length) await trx.raw(`lock tables ${tables.join(', ')}`);
  },
  async unlock(trx) {
    await trx.raw('unlock tables');
  },
  async takeSnapshot(trx) {
    // Ends the knex transaction's own (empty) one and starts the snapshot's, on the same connection.
    await trx.raw('start transaction with consistent snapshot, read only');
  },
  fingerprint: (trx, database) => mysqlFingerprint(trx, database),
};
