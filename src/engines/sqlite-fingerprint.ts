import type { SqliteDatabase } from './sqlite-native.js';
import { MARK_TABLE } from './ownership-mark.js';
import { RowSumHash, type ContentFingerprint, type FingerprintDepth } from './content-fingerprint.js';

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** Row counts, content checksums (summed in the client, rows streamed) and sqlite_sequence positions. */
export function sqliteFingerprint(db: SqliteDatabase, depth: FingerprintDepth = 'content'): ContentFingerprint {
  // The ownership mark is tenantctl's, not the tenant's content: a copy made before it existed matches.
  const tables = db
    .prepare(
      "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name <> ? order by 1",
    )
    .pluck()
    .all(MARK_TABLE) as string[];
  const fingerprint: ContentFingerprint = { tables: {}, sequences: {} };
  for (const table of tables) {
    if (depth === 'rows') {
      const rows = db
        .prepare(`select count(*) from ${quote(table)}`)
        .pluck()
        .get() as number;
      fingerprint.tables[table] = { rows, checksum: '' };
      continue;
    }
    const hash = new RowSumHash();
    for (const row of db
      .prepare(`select * from ${quote(table)}`)
      .raw()
      .iterate())
      hash.add(row as unknown[]);
    fingerprint.tables[table] = { rows: hash.rows, checksum: hash.checksum };
  }
  const hasSequences = db.prepare("select 1 from sqlite_master where name = 'sqlite_sequence'").get();
  if (hasSequences) {
    for (const s of db.prepare('select name, seq from sqlite_sequence').all() as Array<{ name: string; seq: number }>)
      fingerprint.sequences[s.name] = String(s.seq);
  }
  return fingerprint;
}
