import type { SqliteDatabase } from './sqlite-native.js';
import { MARK_TABLE } from './ownership-mark.js';
import { RowSumHash, type ContentFingerprint } from './content-fingerprint.js';

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Row counts, content checksums (summed in the client, rows streamed) and sqlite_sequence positions. */
export function sqliteFingerprint(db: SqliteDatabase): ContentFingerprint {
  // The ownership mark is tenantctl's, not the tenant's content: a copy made before it existed matches.
  const tables = db
    .prepare(
      "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name <> ? order by 1",
    )
    .pluck()
    .all(MARK_TABLE) as string[];
  const fingerprint: ContentFingerprint = { tables: {}, sequences: {} };
  for (const table of tables) {
    const hash = new RowSumHash();
    for (const row of db
      .prepare(`select * from ${quote(table)}`)
      .raw()
      .iterate())
      hash.add(row as unknown[]);
    fingerprint.tables[table] = { rows: hash.rows, checksum: hash.checksum };
  }
  fingerprint.sequences = sqliteSequences(db);
  return fingerprint;
}

/** Every sqlite_sequence position, by table name. */
export function sqliteSequences(db: SqliteDatabase): ContentFingerprint['sequences'] {
  const hasSequences = db.prepare("select 1 from sqlite_master where name = 'sqlite_sequence'").get();
  if (!hasSequences) return {};
  const rows = db.prepare('select name, seq from sqlite_sequence').all() as Array<{ name: string; seq: number }>;
  return Object.fromEntries(rows.map((s) => [s.name, String(s.seq)]));
}
