import type { Knex } from 'knex';
import type { QueryRows, ReadOnlyQueryOptions } from './engine-driver.js';

/**
 * An operator's read on a MySQL/MariaDB tenant session (see DatabaseInspection.readOnlyQuery):
 * the session is made READ ONLY before the statement, so the statement runs in a read-only
 * transaction of its own (autocommit) and the server refuses its writes, DDL too (a `START
 * TRANSACTION READ ONLY` alone would not stop DDL, whose implicit commit ends it). A function
 * cannot make it read-write again: that applies to the next transaction, and the session ends
 * with this statement. mysql2 sends one statement per query (multipleStatements is off).
 */
export async function mysqlReadOnlyQuery(
  knex: Knex,
  sql: string,
  { bindings, timeoutMs }: ReadOnlyQueryOptions,
): Promise<QueryRows> {
  // All on one connection held throughout: a statement must never reach a session not made read only.
  const client = knex.client as { acquireConnection(): Promise<unknown>; releaseConnection(c: unknown): Promise<void> };
  const connection = await client.acquireConnection();
  const on = (text: string, values?: Record<string, string>) =>
    (values && Object.keys(values).length ? knex.raw(text, values) : knex.raw(text)).connection(connection as never);
  try {
    await on('SET SESSION TRANSACTION READ ONLY');
    // MariaDB counts seconds (max_statement_time), MySQL milliseconds (max_execution_time, SELECT only).
    await on(`SET SESSION max_statement_time = ${Math.max(0.001, timeoutMs / 1000)}`).catch(() =>
      on(`SET SESSION max_execution_time = ${Math.max(1, Math.round(timeoutMs))}`),
    );
    const [rows, fields] = (await on(sql, bindings)) as [unknown, Array<{ name: string }> | undefined];
    // A statement that returns no result set (refused before, but say what it gave) has no rows.
    if (!Array.isArray(rows)) return { columns: [], rows: [] };
    return { columns: (fields ?? []).map((f) => f.name), rows: rows as Array<Record<string, unknown>> };
  } finally {
    await client.releaseConnection(connection);
  }
}
