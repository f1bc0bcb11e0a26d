import knexFactory, { type Knex } from 'knex';
import { SqliteKnexClient } from '../../src/engines/sqlite-native.js';

/**
 * A knex on a SQLite file (the embedded registry, a tenant), through the better-sqlite3 that
 * runs on this Node (see src/engines/sqlite-native.ts): tests never name the package themselves.
 */
export function sqliteKnex(filename: string, options: Pick<Knex.Config, 'log'> = {}): Knex {
  return knexFactory({ client: SqliteKnexClient, connection: { filename }, useNullAsDefault: true, ...options });
}
