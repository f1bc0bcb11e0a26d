import type { Knex } from 'knex';

/**
 * Runs `fn` on the driver's own connection object of `knex`'s session (pg Client, mysql2
 * Connection, better-sqlite3 Database), for what knex cannot say: a script of many statements.
 */
export async function onRawConnection<C, T>(knex: Knex, fn: (connection: C) => Promise<T> | T): Promise<T> {
  const client = knex.client as { acquireConnection(): Promise<unknown>; releaseConnection(c: unknown): Promise<void> };
  const connection = await client.acquireConnection();
  try {
    return await fn(connection as C);
  } finally {
    await client.releaseConnection(connection);
  }
}
