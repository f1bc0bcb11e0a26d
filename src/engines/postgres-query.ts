import type { Knex } from 'knex';
import type { QueryRows, ReadOnlyQueryOptions } from './engine-driver.js';

/**
 * An operator's read on a PostgreSQL tenant session (see DatabaseInspection.readOnlyQuery): in a
 * transaction begun READ ONLY, so the server refuses any write the statement makes, however it
 * is hidden (a data-modifying CTE, a function that writes), and a function cannot make it
 * read-write again (that must come before the transaction's first query). The statement goes
 * over the extended protocol even without bindings: the simple protocol would run `select 1;
 * commit; delete …` as three statements, the last outside the transaction.
 */
export async function postgresReadOnlyQuery(
  knex: Knex,
  sql: string,
  { bindings, timeoutMs }: ReadOnlyQueryOptions,
): Promise<QueryRows> {
  return knex.transaction(
    async (trx) => {
      // SET LOCAL: for this transaction only, over the session's own statementTimeout.
      await trx.raw(`set local statement_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
      const statement = bindings && Object.keys(bindings).length ? trx.raw(sql, bindings) : trx.raw(sql);
      const result = (await statement.options({ queryMode: 'extended' })) as {
        fields?: Array<{ name: string }>;
        rows?: Array<Record<string, unknown>>;
      };
      return { columns: (result.fields ?? []).map((f) => f.name), rows: result.rows ?? [] };
    },
    { readOnly: true },
  );
}
