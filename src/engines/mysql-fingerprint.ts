import type { Knex } from 'knex';
import type { ContentFingerprint } from './content-fingerprint.js';
// The ownership mark is tenantctl's, not the tenant's content: a copy made before it existed matches.
import { MARK_TABLE } from './ownership-mark.js';

const quote = (name: string) => `\`${name.replaceAll('`', '``')}\``;

/** One 64-bit half of each row's MD5 (`h`), summed exactly (SUM of unsigned is DECIMAL). */
const half = (from: number) => `cast(coalesce(sum(cast(conv(substr(h, ${from}, 16), 16, 10) as unsigned)), 0) as char)`;

/**
 * Row counts, content checksums (see ContentFingerprint) and AUTO_INCREMENT positions of one
 * database, on a session logged in as its tenant. QUOTE() keeps NULL apart from the text 'NULL'
 * and from an empty string, which CONCAT_WS alone would not.
 */
export async function mysqlFingerprint(session: Knex, database: string): Promise<ContentFingerprint> {
  const [columns] = await session.raw(
    "select c.table_name as t, c.column_name as c from information_schema.columns c join information_schema.tables x on x.table_schema = c.table_schema and x.table_name = c.table_name where c.table_schema = ? and x.table_type = 'BASE TABLE' and c.table_name <> ? order by c.table_name, c.ordinal_position",
    [database, MARK_TABLE],
  );
  const byTable = new Map<string, string[]>();
  for (const { t, c } of columns as Array<{ t: string; c: string }>) byTable.set(t, [...(byTable.get(t) ?? []), c]);
  const fingerprint: ContentFingerprint = { tables: {}, sequences: await mysqlAutoIncrements(session, database) };
  for (const [table, cols] of byTable) {
    const row = `concat_ws(',', ${cols.map((c) => `quote(${quote(c)})`).join(', ')})`;
    const [rows] = await session.raw(
      `select count(*) as n, ${half(1)} as a, ${half(17)} as b from (select md5(${row}) as h from ${quote(database)}.${quote(table)}) s`,
    );
    const r = (rows as Array<{ n: number; a: string; b: string }>)[0]!;
    fingerprint.tables[table] = { rows: Number(r.n), checksum: `${r.a}:${r.b}` };
  }
  return fingerprint;
}

/** The tables a row count and a move's write lock cover: the database's base tables but the mark. */
export async function mysqlTables(session: Knex, database: string): Promise<string[]> {
  const [listed] = await session.raw(
    "select table_name as name from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE' and table_name <> ? order by 1",
    [database, MARK_TABLE],
  );
  return (listed as Array<{ name: string }>).map((row) => row.name);
}

/** Every table's AUTO_INCREMENT position, by table name. */
export async function mysqlAutoIncrements(session: Knex, database: string): Promise<ContentFingerprint['sequences']> {
  const [increments] = await session.raw(
    'select table_name as t, auto_increment as v from information_schema.tables where table_schema = ? and auto_increment is not null and table_name <> ?',
    [database, MARK_TABLE],
  );
  return Object.fromEntries((increments as Array<{ t: string; v: number }>).map(({ t, v }) => [t, String(v)]));
}
