import type { QueryRows, ReadOnlyQueryOptions } from './engine-driver.js';
import type { SqliteDatabase } from './sqlite-native.js';

/** A number-looking binding is bound as a number: SQLite compares a number with text as unequal. */
const NUMBER = /^-?\d+(\.\d+)?$/;

/**
 * An operator's read on a SQLite tenant (see DatabaseInspection.readOnlyQuery), on `db` opened
 * read-only: `query_only` on top, so no statement writes whatever it is; better-sqlite3 prepares
 * one statement only. The statement runs in this process, synchronously, so the timeout is
 * checked between rows: a single row that takes longer is not stopped.
 */
export function sqliteReadOnlyQuery(
  db: SqliteDatabase,
  sql: string,
  { bindings, timeoutMs }: ReadOnlyQueryOptions,
): QueryRows {
  db.pragma('query_only = ON');
  const statement = db.prepare(sql);
  const params = Object.fromEntries(
    Object.entries(bindings ?? {}).map(([k, v]) => [k, NUMBER.test(v) ? Number(v) : v]),
  );
  const args = Object.keys(params).length ? [params] : [];
  if (!statement.reader) {
    // Not a read: run it for the engine's own refusal (the file is read-only) rather than guess.
    statement.run(...args);
    return { columns: [], rows: [] };
  }
  const deadline = Date.now() + timeoutMs;
  const rows: Array<Record<string, unknown>> = [];
  for (const row of statement.iterate(...args) as Iterable<Record<string, unknown>>) {
    rows.push(row);
    if (Date.now() > deadline) throw new Error(`stopped after ${timeoutMs} ms (--timeout)`);
  }
  return { columns: statement.columns().map((c) => c.name), rows };
}
