import { UsageError } from '../../core/errors.js';

/** A statement's first word that makes it DDL: MySQL commits before and after it, whatever the transaction. */
const DDL = /^(create|alter|drop|rename|truncate)\b/i;

/**
 * The statements of an `exec --sql-file`, split on the semicolons outside strings, quoted names,
 * comments and PostgreSQL dollar quotes (a function body keeps its own). Empty statements and
 * comments alone are dropped. MySQL's client-side `DELIMITER` is not SQL and is refused.
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  const cut = (end: number) => {
    const text = sql.slice(start, end).trim();
    if (hasCode(text)) statements.push(text);
    start = end + 1;
  };
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if ((c === '-' && next === '-') || c === '#') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? sql.length : end;
    } else if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end < 0 ? sql.length : end + 2;
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < sql.length && !(sql[j] === c && sql[j + 1] !== c)) j += sql[j] === c || sql[j] === '\\' ? 2 : 1;
      i = j + 1;
    } else if (c === '$' && /^\$[A-Za-z_]*\$/.test(sql.slice(i, i + 64))) {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i, i + 64))![0];
      const end = sql.indexOf(tag, i + tag.length);
      i = end < 0 ? sql.length : end + tag.length;
    } else if (c === ';') {
      cut(i);
      i++;
    } else i++;
  }
  cut(sql.length);
  for (const statement of statements)
    if (/^delimiter\b/i.test(stripComments(statement)))
      throw new UsageError('exec: DELIMITER is a command of the mysql client, not SQL: end each statement with ";"');
  if (!statements.length) throw new UsageError('exec: the SQL file holds no statement');
  return statements;
}

/** Whether a statement is DDL (create, alter, drop, rename, truncate). */
export function isDdl(statement: string): boolean {
  return DDL.test(stripComments(statement));
}

/** The statement without its leading comments. */
function stripComments(text: string): string {
  let rest = text.trim();
  for (;;) {
    if (rest.startsWith('--') || rest.startsWith('#')) {
      const end = rest.indexOf('\n');
      rest = end < 0 ? '' : rest.slice(end + 1).trim();
    } else if (rest.startsWith('/*')) {
      const end = rest.indexOf('*/');
      rest = end < 0 ? '' : rest.slice(end + 2).trim();
    } else return rest;
  }
}

function hasCode(text: string): boolean {
  return stripComments(text).length > 0 && !/^;*$/.test(stripComments(text));
}
