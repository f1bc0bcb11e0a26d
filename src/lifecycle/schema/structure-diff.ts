import { canonicalStructure, type SchemaStructure, type TableStructure } from '../../engines/schema-structure.js';

/** One way a variant differs from the expected structure. */
export interface StructureDifference {
  /** `+` present but not expected, `-` expected but missing, `~` both, unlike. */
  change: '+' | '-' | '~';
  kind:
    | 'table'
    | 'column'
    | 'primary key'
    | 'index'
    | 'foreign key'
    | 'check'
    | 'view'
    | 'trigger'
    | 'function'
    | 'sequence';
  /** What it is: `users.legacy_flag`, `index orders (created_at)`. */
  object: string;
  /** For `~`: what was expected and what is there. */
  expected?: string;
  actual?: string;
  /** A simple, safe statement bringing it to the expected one (extra or missing index), when there is one. */
  fix?: string;
}

/** The engine's way to write the fixes (printed, never run): see EngineDriver. */
export interface FixSql {
  quoteIdentifier(name: string): string;
  dropIndexStatement(index: string, table: string): string;
}

/**
 * How `actual` differs from `expected`, object by object, in a stable order. Only a missing or
 * extra plain index gets a fix: everything else (a column, a default, a key) is by hand.
 */
export function diffStructures(
  expectedIn: SchemaStructure,
  actualIn: SchemaStructure,
  sql: FixSql,
): StructureDifference[] {
  const expected = canonicalStructure(expectedIn);
  const actual = canonicalStructure(actualIn);
  const out: StructureDifference[] = [];
  for (const name of union(expected.tables, actual.tables)) {
    const e = expected.tables[name];
    const a = actual.tables[name];
    if (!e) out.push({ change: '+', kind: 'table', object: name });
    else if (!a) out.push({ change: '-', kind: 'table', object: name });
    else out.push(...diffTable(name, e, a, sql));
  }
  const named = (kind: StructureDifference['kind'], e: Record<string, string>, a: Record<string, string>) => {
    for (const name of union(e, a)) {
      if (e[name] === undefined) out.push({ change: '+', kind, object: name });
      else if (a[name] === undefined) out.push({ change: '-', kind, object: name });
      else if (e[name] !== a[name]) out.push({ change: '~', kind, object: name, expected: e[name], actual: a[name] });
    }
  };
  named('view', expected.views, actual.views);
  named('trigger', expected.triggers, actual.triggers);
  named('function', expected.functions, actual.functions);
  const asRecord = (list: string[]) => Object.fromEntries(list.map((s) => [s, s]));
  named('sequence', asRecord(expected.sequences), asRecord(actual.sequences));
  return out;
}

function diffTable(table: string, e: TableStructure, a: TableStructure, sql: FixSql): StructureDifference[] {
  const out: StructureDifference[] = [];
  const quote = (name: string) => sql.quoteIdentifier(name);
  for (const column of union(e.columns, a.columns)) {
    const ec = e.columns[column];
    const ac = a.columns[column];
    const object = `${table}.${column}`;
    if (!ec) out.push({ change: '+', kind: 'column', object });
    else if (!ac) out.push({ change: '-', kind: 'column', object });
    else {
      const describe = (c: typeof ec) =>
        `${c.type}${c.nullable ? '' : ' not null'}${c.default === null ? '' : ` default ${c.default}`}`;
      if (describe(ec) !== describe(ac))
        out.push({ change: '~', kind: 'column', object, expected: describe(ec), actual: describe(ac) });
    }
  }
  if (e.primaryKey.join(',') !== a.primaryKey.join(','))
    out.push({
      change: '~',
      kind: 'primary key',
      object: table,
      expected: `(${e.primaryKey.join(', ')})`,
      actual: `(${a.primaryKey.join(', ')})`,
    });
  for (const signature of a.indexes.filter((s) => !e.indexes.includes(s))) {
    const name = a.indexNames[signature];
    out.push({
      change: '+',
      kind: 'index',
      object: `${table} ${signature}${name ? ` (${name})` : ''}`,
      ...(name && !signature.startsWith('unique') ? { fix: sql.dropIndexStatement(name, table) } : {}),
    });
  }
  for (const signature of e.indexes.filter((s) => !a.indexes.includes(s))) {
    const name = e.indexNames[signature];
    // A plain index over plain columns is safe to add; a unique one may fail on the data, and a
    // partial or expression one is by hand.
    const columns = /^\(([A-Za-z0-9_, ]+)\)$/.exec(signature.replace(/^btree /, ''))?.[1];
    out.push({
      change: '-',
      kind: 'index',
      object: `${table} ${signature}${name ? ` (${name})` : ''}`,
      ...(name && columns
        ? {
            fix: `create index ${quote(name)} on ${quote(table)} (${columns
              .split(',')
              .map((c) => quote(c.trim()))
              .join(', ')})`,
          }
        : {}),
    });
  }
  const listed = (kind: 'foreign key' | 'check', el: string[], al: string[]) => {
    for (const s of al.filter((x) => !el.includes(x))) out.push({ change: '+', kind, object: `${table} ${s}` });
    for (const s of el.filter((x) => !al.includes(x))) out.push({ change: '-', kind, object: `${table} ${s}` });
  };
  listed('foreign key', e.foreignKeys, a.foreignKeys);
  listed('check', e.checks, a.checks);
  return out;
}

function union(a: object, b: object): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
}

/** One line a person reads: `+ index users (created_at) (users_created_at_idx)`, `~ column users.name: … → …`. */
export function describeDifference(d: StructureDifference): string {
  const what = `${d.change} ${d.kind} ${d.object}`;
  return d.change === '~'
    ? `${what}: expected ${d.expected}, found ${d.actual}`
    : `${what}${d.change === '-' ? ' missing' : ' extra'}`;
}
