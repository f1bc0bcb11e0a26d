import { UsageError } from '../../core/errors.js';

/** How a read may begin: a plain query, a CTE, a VALUES list, PostgreSQL's TABLE t. */
const READ_START = /^(select|with|values|table)\b/i;

/** A write inside a CTE: `with x as (delete …)`, `as materialized (insert …)`. */
const WRITE_IN_CTE = /\(\s*(insert|update|delete|merge)\b/i;

/**
 * The statement with its comments removed and its quoted parts (strings, quoted names,
 * PostgreSQL dollar quotes) blanked, so that what is left is only its structure.
 */
export function statementStructure(sql: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end;
    } else if (c === '#') {
      // MySQL's line comment; a PostgreSQL operator (#) in a read is rare, and this only refuses.
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end;
    } else if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
      out += ' ';
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < sql.length && !(sql[j] === c && sql[j + 1] !== c)) j += sql[j] === c || sql[j] === '\\' ? 2 : 1;
      i = j + 1;
      out += ' x ';
    } else if (c === '$' && /^\$[A-Za-z_]*\$/.test(sql.slice(i))) {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i))![0];
      const end = sql.indexOf(tag, i + tag.length);
      i = end < 0 ? sql.length : end + tag.length;
      out += ' x ';
    } else {
      out += c;
      i++;
    }
  }
  return out.trim();
}

/**
 * Refuses, before it runs anywhere, a statement that is not one read: several statements, one
 * that does not begin as a query does, a CTE that writes. A first line of defence that gives a
 * clear message (exit 2); what guarantees nothing is written is the read-only transaction each
 * tenant's session runs it in (see DatabaseInspection.readOnlyQuery), not this check.
 */
export function assertSingleRead(sql: string): void {
  const structure = statementStructure(sql).replace(/;\s*$/, '');
  if (!structure) throw new UsageError('query: the statement is empty');
  if (structure.includes(';'))
    throw new UsageError('query: several statements; query runs one read (select … or with … select …)');
  const start = /^\(*\s*/.exec(structure)![0];
  if (!READ_START.test(structure.slice(start.length))) {
    const verb = /^\w+/.exec(structure.slice(start.length))?.[0] ?? structure.slice(0, 20);
    throw new UsageError(`query: "${verb}" is not a read; query runs one read (select … or with … select …)`);
  }
  if (WRITE_IN_CTE.test(structure))
    throw new UsageError('query: the statement writes (insert, update, delete or merge inside it); query only reads');
}
