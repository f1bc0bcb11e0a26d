import { createHash } from 'node:crypto';

/**
 * A database's structure as `tenantctl schema diff` compares it: what the migrations made, with
 * what the engine names on its own (index and constraint names, the order of the catalog) left
 * out, so that two tenants migrated alike compare equal. Each engine's reader (postgres-structure,
 * mysql-structure, sqlite-structure) fills it from the catalog, logged in as the tenant.
 */
export interface SchemaStructure {
  tables: Record<string, TableStructure>;
  /** View name → its definition, normalised (whitespace; MySQL's database qualifier removed). */
  views: Record<string, string>;
  /** Trigger name → `table: timing event: body`, normalised. */
  triggers: Record<string, string>;
  /** `name(arguments)` → a digest of its definition (PostgreSQL functions, MySQL routines). */
  functions: Record<string, string>;
  /** Sequences of their own (not those behind a serial or identity column). */
  sequences: string[];
}

export interface ColumnStructure {
  type: string;
  nullable: boolean;
  default: string | null;
}

export interface TableStructure {
  columns: Record<string, ColumnStructure>;
  primaryKey: string[];
  /** Index signatures: `unique (a, b)`, `(a) where …` (its name does not count; see indexNames). */
  indexes: string[];
  /** Signature → the index's name in this database, for the readable report and the fixes. */
  indexNames: Record<string, string>;
  /** `(a) references t (b) on delete cascade`. */
  foreignKeys: string[];
  /** Check expressions, normalised. */
  checks: string[];
}

/** Collapses whitespace and lower-cases keywords' spacing only: `a  =  b` → `a = b`. */
export function squeeze(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * What tenantctl keeps in a tenant database itself (the ownership mark's table, the migration
 * fingerprint's trigger and function): not the tenant's schema, and not compared.
 */
const OURS = /^tenantctl_/;

/** Every list sorted and every key ordered, tenantctl's own objects left out: the form the fingerprint is taken of. */
export function canonicalStructure(structure: SchemaStructure): SchemaStructure {
  const tables: Record<string, TableStructure> = {};
  for (const name of Object.keys(structure.tables).sort()) {
    if (OURS.test(name)) continue;
    const t = structure.tables[name]!;
    tables[name] = {
      columns: Object.fromEntries(
        Object.keys(t.columns)
          .sort()
          .map((c) => [c, t.columns[c]!]),
      ),
      primaryKey: t.primaryKey,
      indexes: [...new Set(t.indexes)].sort(),
      indexNames: t.indexNames,
      foreignKeys: [...new Set(t.foreignKeys)].sort(),
      checks: [...new Set(t.checks)].sort(),
    };
  }
  const sorted = (record: Record<string, string>) =>
    Object.fromEntries(
      Object.keys(record)
        .sort()
        .map((k) => [k, record[k]!]),
    );
  return {
    tables,
    views: sorted(structure.views),
    triggers: sorted(structure.triggers),
    functions: sorted(structure.functions),
    sequences: structure.sequences.filter((s) => !OURS.test(s)).sort(),
  };
}

/** The sha256 of the canonical structure, names the engine made up (indexNames) left out. */
export function structureFingerprint(structure: SchemaStructure): string {
  const canonical = canonicalStructure(structure);
  const tables = Object.fromEntries(
    Object.entries(canonical.tables).map(([name, { indexNames: _names, ...rest }]) => [name, rest]),
  );
  return createHash('sha256')
    .update(JSON.stringify({ ...canonical, tables }))
    .digest('hex');
}

/** A digest of a long definition (a function's body). */
export function digest(text: string): string {
  return createHash('sha256').update(squeeze(text)).digest('hex').slice(0, 16);
}
