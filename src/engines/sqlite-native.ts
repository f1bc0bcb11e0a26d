import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import type { Knex } from 'knex';
import { EnvironmentError, errorMessage } from '../core/errors.js';

export type SqliteDatabase = BetterSqlite3.Database;
type SqliteConstructor = new (file: string, options?: BetterSqlite3.Options) => SqliteDatabase;

const require = createRequire(import.meta.url);

/**
 * No better-sqlite3 major runs on every Node users run. 12 and older derive their objects from
 * node::ObjectWrap, whose destructor on Node 24 asserts a live environment, so a statement
 * garbage-collected off the main context aborts the process (WiseLibs/better-sqlite3#1515, not
 * fixed in 12). 13, built on Node-API, fixes that but supports only Node 22 and later (it
 * crashes on Node 20). So both are installed — 13 as `better-sqlite3`, 12 as the optional
 * `better-sqlite3-node20` — and the one for the running Node is loaded on first use. Dropping
 * Node 20 removes the second one and this choice.
 */
export const SQLITE_PACKAGE =
  Number(process.versions.node.split('.')[0]) >= 22 ? 'better-sqlite3' : 'better-sqlite3-node20';

let loaded: SqliteConstructor | undefined;

/** The better-sqlite3 Database class for this Node. */
export function sqliteModule(): SqliteConstructor {
  if (!loaded) {
    try {
      loaded = require(SQLITE_PACKAGE) as SqliteConstructor;
    } catch (error) {
      throw new EnvironmentError(
        `the embedded engine (SQLite) needs the package ${SQLITE_PACKAGE} for Node ${process.versions.node}, and it did not load: ${errorMessage(error)}. Reinstall tenantctl with this Node (npm rebuild ${SQLITE_PACKAGE}).`,
        { cause: error },
      );
    }
  }
  return loaded;
}

/** Opens a SQLite file with the better-sqlite3 that runs on this Node. */
export function openSqlite(file: string, options?: BetterSqlite3.Options): SqliteDatabase {
  const Database = sqliteModule();
  return new Database(file, options);
}

/** knex's better-sqlite3 client, loading the driver through sqliteModule rather than by its package name. */
const KnexBetterSqlite = require('knex/lib/dialects/better-sqlite3/index.js') as typeof Knex.Client;

export class SqliteKnexClient extends KnexBetterSqlite {
  /**
   * The driver this client loads, for another knex (the project's, see projectKnex) to be given
   * in its own dialect: never the `better-sqlite3` a project resolves, which on Node 20 may be a
   * major that crashes the process.
   */
  static loadDriver: () => unknown = sqliteModule;

  _driver(): SqliteConstructor {
    return sqliteModule();
  }
}
