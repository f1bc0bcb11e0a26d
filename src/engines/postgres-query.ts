import type { Knex } from 'knex';
import type { QueryRows, ReadOnlyQueryOptions } from './engine-driver.js';

/**
 * An operator's read on a PostgreSQL tenant session (see DatabaseInspection.readOnlyQuery). The
 * session was opened read only (TenantConnectionOptions.readOnly: `default_transaction_read_only`
 * and `statement_timeout` in the startup packet), so the statement's own transaction is READ ONLY
 * from its start: the server refuses any write it makes, however it is hidden (a data-modifying
 * CTE, a function that writes), and nothing in it can make it read-write again (PostgreSQL allows
 * that only before a transaction's first query; a changed default applies to later transactions,
 * and the session ends with this one). One round trip instead of four (begin, set local, the
 * statement, commit). The statement goes over the extended protocol even without bindings: the
 * simple protocol would run `select 1; commit; delete …` as several statements.
 */
export async function postgresReadOnlyQuery(
  knex: Knex,
  sql: string,
  { bindings }: ReadOnlyQueryOptions,
): Promise<QueryRows> {
  const statement = bindings && Object.keys(bindings).length ? knex.raw(sql, bindings) : knex.raw(sql);
  const result = (await statement.options({ queryMode: 'extended' })) as {
    fields?: Array<{ name: string }>;
    rows?: Array<Record<string, unknown>>;
  };
  return { columns: (result.fields ?? []).map((f) => f.name), rows: result.rows ?? [] };
}
