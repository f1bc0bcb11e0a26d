import type { Knex } from 'knex';
import type { QueryRows, ReadOnlyQueryOptions } from './engine-driver.js';

/**
 * An operator's read on a MySQL/MariaDB tenant session (see DatabaseInspection.readOnlyQuery):
 * the session is made read only before its transaction starts READ ONLY, so the server refuses
 * writes, and DDL too (whose implicit commit would otherwise end a read-only transaction and
 * run outside it). mysql2 sends one statement per query (multipleStatements is off).
 */
export async function mysqlReadOnlyQuery(
  knex: Knex,
  sql: string,
  { bindings, timeoutMs }: ReadOnlyQueryOptions,
): Promise<QueryRows> {
  await knex.raw('SET SESSION TRANSACTION READ ONLY');
  // MariaDB counts seconds (max_statement_time), MySQL milliseconds (max_execution_time, SELECT only).
  await knex
    .raw(`SET SESSION max_statement_time = ${Math.max(0.001, timeoutMs / 1000)}`)
    .catch(() => knex.raw(`SET SESSION max_execution_time = ${Math.max(1, Math.round(timeoutMs))}`));
  return knex.transaction(
    async (trx) => {
      const statement = bindings && Object.keys(bindings).length ? trx.raw(sql, bindings) : trx.raw(sql);
      const [rows, fields] = (await statement) as [unknown, Array<{ name: string }> | undefined];
      // A statement that returns no result set (refused before, but say what it gave) has no rows.
      if (!Array.isArray(rows)) return { columns: [], rows: [] };
      return { columns: (fields ?? []).map((f) => f.name), rows: rows as Array<Record<string, unknown>> };
    },
    { readOnly: true },
  );
}
