import { createHash } from 'node:crypto';
import { squeeze, type SchemaStructure, type TableStructure } from './schema-structure.js';
import type { SqliteDatabase } from './sqlite-native.js';

type Row = Record<string, string | number | null>;

/**
 * The structure of a SQLite file: tables with their columns (declared type, NOT NULL, default),
 * primary key, indexes by columns (whether made by a UNIQUE constraint or by hand: their names do
 * not count), foreign keys, views and triggers. SQLite keeps check constraints only in the table's
 * CREATE text, which is not compared; it has no functions or sequences.
 */
export function sqliteStructure(db: SqliteDatabase): SchemaStructure {
  const all = (sql: string): Row[] => db.prepare(sql).all() as Row[];
  const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
  const tables: Record<string, TableStructure> = {};
  const views: Record<string, string> = {};
  const triggers: Record<string, string> = {};
  for (const r of all("select type, name, tbl_name, sql from sqlite_master where name not like 'sqlite_%'")) {
    const name = String(r.name);
    if (r.type === 'view') views[name] = squeeze(String(r.sql).replace(/^create view\s+("[^"]+"|\S+)\s+as\s+/i, ''));
    if (r.type === 'trigger')
      triggers[name] =
        `${String(r.tbl_name)}: ${squeeze(String(r.sql).replace(/^create trigger\s+("[^"]+"|\S+)\s+/i, ''))}`;
    if (r.type !== 'table') continue;
    const t: TableStructure = { columns: {}, primaryKey: [], indexes: [], indexNames: {}, foreignKeys: [], checks: [] };
    const pk: Array<[number, string]> = [];
    for (const c of all(`pragma table_info(${quote(name)})`)) {
      t.columns[String(c.name)] = {
        type: String(c.type).toLowerCase(),
        nullable: Number(c.notnull) === 0,
        default: c.dflt_value === null ? null : String(c.dflt_value),
      };
      if (Number(c.pk) > 0) pk.push([Number(c.pk), String(c.name)]);
    }
    t.primaryKey = pk.sort((a, b) => a[0] - b[0]).map(([, n]) => n);
    for (const i of all(`pragma index_list(${quote(name)})`)) {
      if (i.origin === 'pk') continue;
      const cols = all(`pragma index_info(${quote(String(i.name))})`)
        .sort((a, b) => Number(a.seqno) - Number(b.seqno))
        .map((c) => String(c.name));
      const partial = Number(i.partial) === 1 ? ' partial' : '';
      const signature = `${Number(i.unique) === 1 ? 'unique ' : ''}(${cols.join(', ')})${partial}`;
      t.indexes.push(signature);
      t.indexNames[signature] = String(i.name);
    }
    const fks = new Map<number, { table: string; from: string[]; to: string[]; rules: string }>();
    for (const f of all(`pragma foreign_key_list(${quote(name)})`)) {
      const entry = fks.get(Number(f.id)) ?? {
        table: String(f.table),
        from: [],
        to: [],
        rules: `on update ${String(f.on_update).toLowerCase()} on delete ${String(f.on_delete).toLowerCase()}`,
      };
      entry.from.push(String(f.from));
      entry.to.push(String(f.to));
      fks.set(Number(f.id), entry);
    }
    for (const f of fks.values())
      t.foreignKeys.push(`(${f.from.join(', ')}) references ${f.table} (${f.to.join(', ')}) ${f.rules}`);
    tables[name] = t;
  }
  return { tables, views, triggers, functions: {}, sequences: [] };
}

/** A digest of the file's schema: every CREATE statement SQLite keeps, which any DDL rewrites. */
export function sqliteStructureDigest(db: SqliteDatabase): string {
  const rows = db.prepare('select type, name, tbl_name, sql from sqlite_master order by type, name').all();
  return createHash('sha256').update(JSON.stringify(rows)).digest('hex');
}
