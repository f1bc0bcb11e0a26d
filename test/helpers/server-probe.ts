import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { SERVER_URLS, type TestEngine } from './engines.js';
import { sqliteKnex } from './sqlite-knex.js';

/** Probes expect failures (a locked user, a dropped session): knex need not print them. */
const log = { warn() {}, error() {}, deprecate() {}, debug() {} };

/**
 * Looks at a server directly, with plain queries independent of tenantctl's drivers, so a test
 * checks what is really there.
 */
export interface ServerProbe {
  databaseExists(database: string): Promise<boolean>;
  userExists(user: string): Promise<boolean>;
  /** Opens a knex as the tenant's own user, as the application would. */
  connectAs(database: string, user: string | null, password: string | null): Knex;
  /** Opens a knex with the admin credentials on a tenant database. */
  admin(database: string): Knex;
  /** Creates an empty database by hand, as an operator might. */
  createDatabase(database: string): Promise<void>;
  /** Drops a database and user if present (test cleanup). */
  drop(database: string, user: string | null): Promise<void>;
  close(): Promise<void>;
}

function netConnection(engine: 'postgres' | 'mysql', database?: string, user?: string, password?: string) {
  const url = new URL(SERVER_URLS[engine]);
  return {
    host: url.hostname,
    port: Number(url.port),
    user: user ?? decodeURIComponent(url.username),
    password: password ?? decodeURIComponent(url.password),
    database: database ?? (url.pathname.slice(1) || undefined),
  };
}

export function probeFor(engine: TestEngine, sqliteDirectory: string): ServerProbe {
  if (engine === 'sqlite') {
    const file = (db: string) => join(sqliteDirectory, `${db}.sqlite`);
    const open = (db: string) => sqliteKnex(file(db), { log });
    return {
      databaseExists: async (db) => existsSync(file(db)),
      userExists: async () => false,
      connectAs: (db) => open(db),
      admin: (db) => open(db),
      createDatabase: async (db) => {
        mkdirSync(sqliteDirectory, { recursive: true });
        const knex = open(db);
        try {
          await knex.raw('create table hand_made (id integer)');
        } finally {
          await knex.destroy();
        }
      },
      drop: async (db) => {
        rmSync(file(db), { force: true });
      },
      close: async () => {},
    };
  }
  const client = engine === 'postgres' ? 'pg' : 'mysql2';
  const admin = knexFactory({ client, connection: netConnection(engine), pool: { min: 0, max: 2 }, log });
  const rows = (result: { rows?: unknown[] } | unknown[][]) => (Array.isArray(result) ? result[0]! : result.rows!);
  return {
    async databaseExists(db) {
      const sql =
        engine === 'postgres'
          ? 'select 1 from pg_database where datname = ?'
          : 'select 1 from information_schema.schemata where schema_name = ?';
      return rows(await admin.raw(sql, [db])).length > 0;
    },
    async userExists(user) {
      const sql =
        engine === 'postgres' ? 'select 1 from pg_roles where rolname = ?' : 'select 1 from mysql.user where user = ?';
      return rows(await admin.raw(sql, [user])).length > 0;
    },
    connectAs: (db, user, password) =>
      knexFactory({
        client,
        connection: netConnection(engine, db, user ?? undefined, password ?? undefined),
        pool: { min: 0, max: 1 },
        log,
      }),
    admin: (db) => knexFactory({ client, connection: netConnection(engine, db), pool: { min: 0, max: 1 }, log }),
    async createDatabase(db) {
      await admin.raw(engine === 'postgres' ? `create database "${db}"` : `create database \`${db}\``);
    },
    async drop(db, user) {
      if (engine === 'postgres') {
        await admin.raw(`drop database if exists "${db}" with (force)`);
        if (user) await admin.raw(`drop role if exists "${user}"`);
      } else {
        await admin.raw(`drop database if exists \`${db}\``);
        if (user) await admin.raw('drop user if exists ?@?', [user, '%']);
      }
    },
    close: () => admin.destroy(),
  };
}

/** Whether a knex can run a query: how a test asks "can this user connect?". */
export async function canQuery(knex: Knex, sql = 'select 1'): Promise<boolean> {
  try {
    await knex.raw(sql);
    return true;
  } catch {
    return false;
  } finally {
    await knex.destroy();
  }
}
