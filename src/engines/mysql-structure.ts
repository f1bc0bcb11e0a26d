import type { Knex } from 'knex';
import { digest, squeeze, type SchemaStructure, type TableStructure } from './schema-structure.js';

type Rows = Array<Record<string, string | number | boolean | null>>;

/**
 * The structure of the database `knex` is logged in to (as the tenant), from information_schema
 * filtered to `database()`: tables (sequences, on MariaDB, apart), columns with their full type,
 * nullability and default, primary key, indexes by columns (their names do not count), foreign
 * keys, checks, views (their database qualifier removed), triggers and routines.
 */
export async function mysqlStructure(knex: Knex): Promise<SchemaStructure> {
  const rows = async (sql: string): Promise<Rows> => {
    const [result] = (await knex.raw(sql)) as [Rows];
    // Column names come back as the server spells them (upper case on MySQL 8): lower-cased here.
    return result.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k.toLowerCase(), v])));
  };
  const [{ db }] = (await rows('select database() as db')) as [{ db: string }];
  const unqualify = (text: string) => text.replaceAll(`\`${db}\`.`, '').replaceAll(`${db}.`, '');
  const tables: Record<string, TableStructure> = {};
  const sequences: string[] = [];
  for (const r of await rows(
    "select table_name as name, table_type as type from information_schema.tables where table_schema = database() and table_type in ('BASE TABLE', 'SEQUENCE')",
  )) {
    if (r.type === 'SEQUENCE') sequences.push(String(r.name));
    else
      tables[String(r.name)] = {
        columns: {},
        primaryKey: [],
        indexes: [],
        indexNames: {},
        foreignKeys: [],
        checks: [],
      };
  }
  for (const r of await rows(
    'select table_name as tbl, column_name as col, column_type as type, is_nullable as nullable, column_default as dflt, extra from information_schema.columns where table_schema = database()',
  )) {
    const t = tables[String(r.tbl)];
    if (!t) continue;
    // MySQL 8 marks expression defaults DEFAULT_GENERATED: not part of the column's meaning.
    const extra = squeeze(String(r.extra ?? '').replace(/DEFAULT_GENERATED/i, ''));
    t.columns[String(r.col)] = {
      type: `${String(r.type)}${extra ? ` ${extra}` : ''}`,
      nullable: r.nullable === 'YES',
      default: r.dflt === null || r.dflt === 'NULL' ? null : String(r.dflt),
    };
  }
  const indexes = new Map<string, { tbl: string; name: string; unique: boolean; cols: string[] }>();
  for (const r of await rows(
    'select table_name as tbl, index_name as name, non_unique, column_name as col, sub_part, seq_in_index from information_schema.statistics where table_schema = database() order by table_name, index_name, seq_in_index',
  )) {
    const key = `${String(r.tbl)}\u0000${String(r.name)}`;
    const entry = indexes.get(key) ?? {
      tbl: String(r.tbl),
      name: String(r.name),
      unique: Number(r.non_unique) === 0,
      cols: [],
    };
    entry.cols.push(r.sub_part === null ? String(r.col) : `${String(r.col)}(${String(r.sub_part)})`);
    indexes.set(key, entry);
  }
  for (const i of indexes.values()) {
    const t = tables[i.tbl];
    if (!t) continue;
    if (i.name === 'PRIMARY') {
      t.primaryKey = i.cols;
      continue;
    }
    const signature = `${i.unique ? 'unique ' : ''}(${i.cols.join(', ')})`;
    t.indexes.push(signature);
    t.indexNames[signature] = i.name;
  }
  const fks = new Map<string, { tbl: string; cols: string[]; ref: string; refCols: string[]; rules: string }>();
  // information_schema tables are read one at a time, each filtered on the column the server
  // looks up by: a join of two (or a filter on another column) reads every database's catalog,
  // seconds on a server of a thousand tenants.
  const rules = new Map<string, string>();
  for (const r of await rows(
    'select table_name as tbl, constraint_name as name, update_rule, delete_rule from information_schema.referential_constraints where constraint_schema = database()',
  ))
    rules.set(
      `${String(r.tbl)}\u0000${String(r.name)}`,
      `on update ${String(r.update_rule).toLowerCase()} on delete ${String(r.delete_rule).toLowerCase()}`,
    );
  for (const r of await rows(`
    select table_name as tbl, constraint_name as name, column_name as col, referenced_table_name as ref,
           referenced_column_name as refcol
    from information_schema.key_column_usage
    where table_schema = database() and referenced_table_name is not null order by table_name, constraint_name, ordinal_position`)) {
    const key = `${String(r.tbl)}\u0000${String(r.name)}`;
    const rule = rules.get(key);
    if (rule === undefined) continue;
    const entry = fks.get(key) ?? { tbl: String(r.tbl), cols: [], ref: String(r.ref), refCols: [], rules: rule };
    entry.cols.push(String(r.col));
    entry.refCols.push(String(r.refcol));
    fks.set(key, entry);
  }
  for (const f of fks.values())
    tables[f.tbl]?.foreignKeys.push(`(${f.cols.join(', ')}) references ${f.ref} (${f.refCols.join(', ')}) ${f.rules}`);
  // Check constraints: MySQL 8.0.16+, MariaDB 10.2+; an older server has none to read.
  const clauses = new Map<string, string>();
  for (const r of await rows(
    'select constraint_name as name, check_clause as clause from information_schema.check_constraints where constraint_schema = database()',
  ).catch(() => [] as Rows))
    clauses.set(String(r.name), String(r.clause));
  const checks = (
    await rows(
      "select table_name as tbl, constraint_name as name from information_schema.table_constraints where table_schema = database() and constraint_type = 'CHECK'",
    )
  ).flatMap((r) => (clauses.has(String(r.name)) ? [{ tbl: r.tbl, clause: clauses.get(String(r.name)) }] : []));
  for (const r of checks) tables[String(r.tbl)]?.checks.push(squeeze(unqualify(String(r.clause))));
  const views: Record<string, string> = {};
  for (const r of await rows(
    'select table_name as name, view_definition as def from information_schema.views where table_schema = database()',
  ))
    views[String(r.name)] = squeeze(unqualify(String(r.def ?? '')));
  const triggers: Record<string, string> = {};
  for (const r of await rows(
    'select trigger_name as name, event_object_table as tbl, action_timing as timing, event_manipulation as event, action_statement as body from information_schema.triggers where event_object_schema = database()',
  ))
    triggers[String(r.name)] =
      `${String(r.tbl)}: ${String(r.timing)} ${String(r.event)}: ${squeeze(unqualify(String(r.body)))}`;
  const functions: Record<string, string> = {};
  for (const r of await rows(
    'select routine_name as name, routine_type as type, routine_definition as def from information_schema.routines where routine_schema = database()',
  ))
    functions[`${String(r.type).toLowerCase()} ${String(r.name)}`] = digest(unqualify(String(r.def ?? '')));
  return { tables, views, triggers, functions, sequences };
}

/**
 * One query's digest of what mysqlStructure reads from information_schema (and when each routine
 * was last altered): a change to any table, column, index, constraint, view, trigger or routine of
 * the database changes it. The rows are concatenated per catalog table, so the session's
 * `group_concat_max_len` is raised first (on one connection: a transaction) far above any schema.
 */
export async function mysqlStructureDigest(knex: Knex): Promise<string> {
  // QUOTE keeps a NULL apart from the text 'NULL' and keeps every field in its place.
  const part = (columns: string, from: string, schemaColumn: string, order: string) =>
    `(select group_concat(concat_ws(',', ${columns
      .split(', ')
      .map((c) => `quote(${c})`)
      .join(
        ', ',
      )}) order by ${order} separator ';') from information_schema.${from} where ${schemaColumn} = database())`;
  const parts = [
    part('table_name, table_type, engine, table_collation, create_options', 'tables', 'table_schema', 'table_name'),
    part(
      'table_name, column_name, ordinal_position, column_type, is_nullable, column_default, extra, collation_name',
      'columns',
      'table_schema',
      'table_name, ordinal_position',
    ),
    part(
      'table_name, index_name, seq_in_index, column_name, non_unique, sub_part, index_type',
      'statistics',
      'table_schema',
      'table_name, index_name, seq_in_index',
    ),
    part(
      'table_name, constraint_name, constraint_type',
      'table_constraints',
      'constraint_schema',
      'table_name, constraint_name',
    ),
    part(
      'table_name, constraint_name, ordinal_position, column_name, referenced_table_name, referenced_column_name',
      'key_column_usage',
      'table_schema',
      'table_name, constraint_name, ordinal_position',
    ),
    part(
      'table_name, constraint_name, update_rule, delete_rule, referenced_table_name',
      'referential_constraints',
      'constraint_schema',
      'constraint_name',
    ),
    part('constraint_name, check_clause', 'check_constraints', 'constraint_schema', 'constraint_name'),
    part('table_name, view_definition', 'views', 'table_schema', 'table_name'),
    part(
      'trigger_name, event_object_table, action_timing, event_manipulation, action_order, action_statement',
      'triggers',
      'event_object_schema',
      'trigger_name',
    ),
    part(
      'routine_name, routine_type, created, last_altered, routine_definition',
      'routines',
      'routine_schema',
      'routine_name, routine_type',
    ),
  ];
  return knex.transaction(async (trx) => {
    await trx.raw('set session group_concat_max_len = 1073741824');
    const [rows] = (await trx.raw(
      `select md5(concat_ws('|', ${parts.map((p) => `coalesce(${p}, '')`).join(', ')})) as digest`,
    )) as [Array<{ digest: string }>];
    return rows[0]!.digest;
  });
}
