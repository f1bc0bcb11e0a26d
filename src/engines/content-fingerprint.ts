import { createHash } from 'node:crypto';

/**
 * What a move compares between the source and the target database: per table the exact row
 * count and a content checksum, and every sequence / auto-increment position.
 *
 * The checksum is the sum, as an exact number, of each row's MD5 (two 64-bit halves summed
 * apart): every column of every row goes into it, so a row missing, added or changed anywhere
 * changes it, yet it needs one pass and constant memory however big the table is (an ordered
 * `string_agg` would build the whole table as one string, and PostgreSQL caps strings at 1 GB).
 * Rows are whole tuples with their primary key, so the order they are read in does not matter.
 */
export interface ContentFingerprint {
  /** Per table; `checksum` is empty where only rows were counted (FingerprintDepth `rows`). */
  tables: Record<string, { rows: number; checksum: string }>;
  /** Sequence (PostgreSQL), AUTO_INCREMENT (MySQL) or sqlite_sequence position, by name. */
  sequences: Record<string, string | null>;
}

/**
 * How much of each table a fingerprint reads: `content`, every row's checksum (a full pass over
 * the data); `rows`, the exact row count only (what an online move's fence re-checks, its content
 * having been compared before the fence, see OnlineMoves.compareLive).
 */
export type FingerprintDepth = 'content' | 'rows';

/**
 * Which of `tables` a row count must read (`counted`) and the counts already known of the others
 * (`given`, see DatabaseInspection.contentFingerprint's `known`), by each table's name.
 */
export function splitKnownCounts<T>(
  tables: T[],
  nameOf: (table: T) => string,
  known: Record<string, number> = {},
): { counted: T[]; given: Array<[string, number]> } {
  const counted: T[] = [];
  const given: Array<[string, number]> = [];
  for (const table of tables) {
    const rows = known[nameOf(table)];
    if (rows === undefined) counted.push(table);
    else given.push([nameOf(table), rows]);
  }
  return { counted, given };
}

/** A fingerprint of row counts only (FingerprintDepth `rows`): every checksum empty. */
export function countedFingerprint(
  counts: Record<string, number>,
  sequences: ContentFingerprint['sequences'],
): ContentFingerprint {
  return {
    tables: Object.fromEntries(Object.entries(counts).map(([name, rows]) => [name, { rows, checksum: '' }])),
    sequences,
  };
}

/** The differences between two fingerprints, in words; empty when they match. */
export function fingerprintDifferences(source: ContentFingerprint, target: ContentFingerprint): string[] {
  const problems: string[] = [];
  const names = [...new Set([...Object.keys(source.tables), ...Object.keys(target.tables)])].sort();
  for (const name of names) {
    const s = source.tables[name];
    const t = target.tables[name];
    if (!t) problems.push(`table ${name} is missing on the target`);
    else if (!s) problems.push(`table ${name} is on the target only`);
    else if (s.rows !== t.rows) problems.push(`table ${name}: ${s.rows} rows on the source, ${t.rows} on the target`);
    else if (s.checksum !== t.checksum)
      problems.push(`table ${name}: same ${s.rows} rows but different content (checksum)`);
  }
  const sequences = [...new Set([...Object.keys(source.sequences), ...Object.keys(target.sequences)])].sort();
  for (const name of sequences) {
    const s = source.sequences[name] ?? null;
    const t = target.sequences[name] ?? null;
    if (s !== t) problems.push(`sequence ${name}: at ${s ?? 'unset'} on the source, ${t ?? 'unset'} on the target`);
  }
  return problems;
}

/** The same sum over rows read in the client (SQLite, which has no MD5 of its own). */
export class RowSumHash {
  private a = 0n;
  private b = 0n;
  rows = 0;
  add(row: unknown[]): void {
    const digest = createHash('md5')
      .update(
        JSON.stringify(row, (_key, value: unknown) =>
          typeof value === 'bigint' ? value.toString() : Buffer.isBuffer(value) ? value.toString('base64') : value,
        ),
      )
      .digest('hex');
    this.a += BigInt(`0x${digest.slice(0, 16)}`);
    this.b += BigInt(`0x${digest.slice(16)}`);
    this.rows++;
  }
  get checksum(): string {
    return `${this.a}:${this.b}`;
  }
}
