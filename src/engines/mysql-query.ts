import type { Knex } from 'knex';
import type { QueryRows, ReadOnlyQueryOptions } from './engine-driver.js';

/**
 * An operator's read on a MySQL/MariaDB tenant session (see DatabaseInspection.readOnlyQuery).
 * The session was made READ ONLY, with the statement's timeout, as it opened
 * (TenantConnectionOptions.readOnly; a connection that setting failed on is never handed out), so
 * the statement runs in a read-only transaction of its own (autocommit) and the server refuses its
 * writes, DDL too (a `START TRANSACTION READ ONLY` alone would not stop DDL, whose implicit commit
 * ends it). A function cannot make it read-write again: that applies to the next transaction, and
 * the session ends with this statement. mysql2 sends one statement per query (multipleStatements
 * is off).
 */
export async function mysqlReadOnlyQuery(
  knex: Knex,
  sql: string,
  { bindings }: ReadOnlyQueryOptions,
): Promise<QueryRows> {
  const statement = bindings && Object.keys(bindings).length ? knex.raw(sql, bindings) : knex.raw(sql);
  const [rows, fields] = (await statement) as [unknown, Array<{ name: string }> | undefined];
  // A statement that returns no result set (refused before, but say what it gave) has no rows.
  if (!Array.isArray(rows)) return { columns: [], rows: [] };
  return { columns: (fields ?? []).map((f) => f.name), rows: rows as Array<Record<string, unknown>> };
}
