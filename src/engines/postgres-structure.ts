import type { Knex } from 'knex';
import { digest, squeeze, type SchemaStructure, type TableStructure } from './schema-structure.js';

/** Schemas of the server's own, never a tenant's. */
const SYSTEM = `n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%' and n.nspname not like 'pg_temp%'`;

/** Objects tenantctl adds itself (the migration fingerprint's trigger and function): not the schema's. */
const OURS = /^tenantctl_/;

type Rows = Array<Record<string, string | number | boolean | null>>;

/**
 * The structure of the database `knex` is logged in to (as the tenant), from pg_catalog: tables
 * and their columns, primary key, indexes (by definition, not name), foreign keys and checks (by
 * definition), views, triggers, functions and sequences of their own. Objects outside `public`
 * are named `schema.name`; extension-owned objects are left out.
 */
export async function postgresStructure(knex: Knex): Promise<SchemaStructure> {
  const rows = async (sql: string): Promise<Rows> => ((await knex.raw(sql)) as { rows: Rows }).rows;
  const qualified = (schema: unknown, name: unknown) =>
    schema === 'public' ? String(name) : `${String(schema)}.${String(name)}`;
  const tables: Record<string, TableStructure> = {};
  const table = (schema: unknown, name: unknown) =>
    (tables[qualified(schema, name)] ??= {
      columns: {},
      primaryKey: [],
      indexes: [],
      indexNames: {},
      foreignKeys: [],
      checks: [],
    });
  for (const r of await rows(`
    select n.nspname as schema, c.relname as tbl, a.attname as col, format_type(a.atttypid, a.atttypmod) as type,
           not a.attnotnull as nullable, pg_get_expr(d.adbin, d.adrelid) as dflt
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
    where c.relkind in ('r', 'p') and ${SYSTEM}
      and not exists (select 1 from pg_depend e where e.objid = c.oid and e.deptype = 'e')`))
    table(r.schema, r.tbl).columns[String(r.col)] = {
      type: String(r.type),
      nullable: Boolean(r.nullable),
      default: r.dflt === null ? null : squeeze(String(r.dflt)),
    };
  for (const r of await rows(`
    select n.nspname as schema, c.relname as tbl, i.relname as name, x.indisprimary as pk, pg_get_indexdef(x.indexrelid) as def,
           array(select a.attname from unnest(x.indkey) with ordinality k(attnum, o) join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum order by o)::text[] as cols
    from pg_index x join pg_class c on c.oid = x.indrelid join pg_class i on i.oid = x.indexrelid
    join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'p') and ${SYSTEM}`)) {
    const t = table(r.schema, r.tbl);
    if (r.pk) {
      t.primaryKey = r.cols as unknown as string[];
      continue;
    }
    // `CREATE UNIQUE INDEX name ON public.t USING btree (a) WHERE …`: its name and table left out.
    const def = String(r.def);
    const unique = /^create unique/i.test(def) ? 'unique ' : '';
    const signature = `${unique}${squeeze(def.slice(def.indexOf(' USING ') + 7))}`;
    t.indexes.push(signature);
    t.indexNames[signature] = String(r.name);
  }
  for (const r of await rows(`
    select n.nspname as schema, c.relname as tbl, k.contype as kind, pg_get_constraintdef(k.oid) as def
    from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_namespace n on n.oid = c.relnamespace
    where k.contype in ('f', 'c') and ${SYSTEM}`)) {
    const t = table(r.schema, r.tbl);
    (r.kind === 'f' ? t.foreignKeys : t.checks).push(squeeze(String(r.def)));
  }
  const views: Record<string, string> = {};
  for (const r of await rows(`
    select n.nspname as schema, c.relname as name, pg_get_viewdef(c.oid) as def from pg_class c
    join pg_namespace n on n.oid = c.relnamespace where c.relkind in ('v', 'm') and ${SYSTEM}`))
    views[qualified(r.schema, r.name)] = squeeze(String(r.def));
  const triggers: Record<string, string> = {};
  for (const r of await rows(`
    select n.nspname as schema, c.relname as tbl, t.tgname as name, pg_get_triggerdef(t.oid) as def from pg_trigger t
    join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace where not t.tgisinternal and ${SYSTEM}`)) {
    if (OURS.test(String(r.name))) continue;
    const def = String(r.def);
    triggers[String(r.name)] =
      `${qualified(r.schema, r.tbl)}: ${squeeze(def.replace(/^CREATE (CONSTRAINT )?TRIGGER \S+ /i, ''))}`;
  }
  const functions: Record<string, string> = {};
  for (const r of await rows(`
    select n.nspname as schema, p.proname as name, pg_get_function_identity_arguments(p.oid) as args, pg_get_functiondef(p.oid) as def
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace where ${SYSTEM} and p.prokind in ('f', 'p')
      and not exists (select 1 from pg_depend e where e.objid = p.oid and e.deptype = 'e')`)) {
    if (OURS.test(String(r.name))) continue;
    functions[`${qualified(r.schema, r.name)}(${String(r.args)})`] = digest(String(r.def));
  }
  const sequences = (
    await rows(`
    select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where c.relkind = 'S' and ${SYSTEM}
      and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype in ('a', 'i', 'e'))`)
  ).map((r) => qualified(r.schema, r.name));
  return { tables, views, triggers, functions, sequences };
}

/**
 * One query's digest of every catalog row postgresStructure reads from (and the types and
 * extension memberships behind them): each row's identity and `xmin`, the transaction that wrote
 * its present version. Any DDL inserts, updates or deletes such rows, and so changes the digest;
 * what the server updates in place (VACUUM's page counts) keeps its xmin and does not.
 */
export async function postgresStructureDigest(knex: Knex): Promise<string> {
  const inUserSchema = (alias: string, column: string) =>
    `join pg_catalog.pg_namespace n on n.oid = ${alias}.${column} where ${SYSTEM}`;
  const ofUserRelation = (alias: string, column: string) =>
    `join pg_catalog.pg_class c on c.oid = ${alias}.${column} join pg_catalog.pg_namespace n on n.oid = c.relnamespace where ${SYSTEM}`;
  const parts = [
    `select 'n' || n.oid || ':' || n.xmin as r from pg_catalog.pg_namespace n where ${SYSTEM}`,
    `select 'c' || c.oid || ':' || c.xmin from pg_catalog.pg_class c ${inUserSchema('c', 'relnamespace')}`,
    `select 'a' || a.attrelid || '.' || a.attnum || ':' || a.xmin from pg_catalog.pg_attribute a ${ofUserRelation('a', 'attrelid')}`,
    `select 'd' || d.oid || ':' || d.xmin from pg_catalog.pg_attrdef d ${ofUserRelation('d', 'adrelid')}`,
    `select 'i' || i.indexrelid || ':' || i.xmin from pg_catalog.pg_index i ${ofUserRelation('i', 'indrelid')}`,
    `select 'k' || k.oid || ':' || k.xmin from pg_catalog.pg_constraint k ${inUserSchema('k', 'connamespace')}`,
    `select 't' || t.oid || ':' || t.xmin from pg_catalog.pg_trigger t ${ofUserRelation('t', 'tgrelid')}`,
    `select 'w' || w.oid || ':' || w.xmin from pg_catalog.pg_rewrite w ${ofUserRelation('w', 'ev_class')}`,
    `select 'p' || p.oid || ':' || p.xmin from pg_catalog.pg_proc p ${inUserSchema('p', 'pronamespace')}`,
    `select 'y' || y.oid || ':' || y.xmin from pg_catalog.pg_type y ${inUserSchema('y', 'typnamespace')}`,
    `select 'e' || e.oid || ':' || e.xmin from pg_catalog.pg_extension e`,
    `select 'x' || x.classid || '.' || x.objid || '.' || x.objsubid || ':' || x.xmin from pg_catalog.pg_depend x where x.deptype = 'e'`,
  ];
  const result = await knex.raw(
    `select pg_catalog.md5(coalesce(string_agg(r, ',' order by r), '')) as digest from (${parts.join(' union all ')}) s`,
  );
  return (result.rows[0] as { digest: string }).digest;
}
