import type { Knex } from 'knex';
import type { Engine, ServerSpec } from './server-spec.js';

/** Held until released; the server releases it by itself if the process dies. */
export interface HeldLock {
  release(): Promise<void>;
}

/** What an engine can do and how it is named and locked: no connection needed. */
export interface EngineDriver {
  readonly engine: Engine;
  /** The knex client name. */
  readonly knexClient: string;
  /** Whether DDL rolls back with its transaction (MySQL: no, a failed migration may be half applied). */
  readonly transactionalDdl: boolean;
  /** Whether one admin connection can read every database (MySQL), so fleet reads batch per server. */
  readonly crossDatabaseReads: boolean;
  /** Whether tenants can get database users of their own. */
  readonly supportsUsers: boolean;
  /** Longest database and user name, and the unit (PostgreSQL counts bytes, MySQL characters). */
  readonly limits: { database: number; user: number };
  /** Names the engine keeps for itself; tenant names must not take them. */
  readonly reservedNames: ReadonlySet<string>;
  quoteIdentifier(name: string): string;
  /** True for the driver's "no such table" error. */
  isMissingTableError(error: unknown): boolean;
  /** Knex configuration for the admin connection to a server (or the registry). */
  adminKnexConfig(spec: ServerSpec): Knex.Config;
  /**
   * Takes a named, session-scoped lock on a knex connection (PostgreSQL advisory lock, MySQL
   * GET_LOCK, SQLite a lock row checked for a dead owner). Resolves undefined if it is held
   * elsewhere and `waitMs` runs out.
   */
  tryLock(knex: Knex, name: string, waitMs: number): Promise<HeldLock | undefined>;
  /** Opens the admin side of one server. */
  connect(spec: ServerSpec): ServerConnection;
}

/** How tenant schema code connects to a tenant database. */
export interface TenantConnectionOptions {
  database: string;
  /** PostgreSQL: `SET ROLE` to this role on every connection, so the tenant owns what is created. */
  role?: string;
}

/** The admin side of one database server: the operations tenant lifecycles are made of. */
export interface ServerConnection {
  readonly driver: EngineDriver;
  /** Checks the server answers; returns its version string. Throws UnreachableError. */
  ping(): Promise<string>;
  databaseExists(name: string): Promise<boolean>;
  createDatabase(name: string): Promise<void>;
  /** Drops the database if it exists, ending its open connections first. */
  dropDatabase(name: string): Promise<void>;
  userExists(name: string): Promise<boolean>;
  /** Creates a user that can log in and use only `database`. The password never reaches logs or errors. */
  createUser(name: string, password: string, database: string): Promise<void>;
  /** Drops the user if it exists. */
  dropUser(name: string): Promise<void>;
  /**
   * Reads the migration table of many databases with as few round trips as the engine allows
   * (MySQL: one UNION per batch over the admin connection; PostgreSQL: one short connection per
   * database, `concurrency` at a time; SQLite: each file).
   */
  readAppliedMigrations(databases: string[], table: string, concurrency: number): Promise<AppliedMigrations>;
  /** Knex config for tenant schema work over the admin credentials. */
  tenantKnexConfig(options: TenantConnectionOptions): Knex.Config;
  /** Knex config as the tenant's own user would connect (what the application uses). */
  tenantUserKnexConfig(database: string, user: string, password: string): Knex.Config;
  close(): Promise<void>;
}

/**
 * What each tenant database's migration table holds: the applied names in order, or null where
 * the table (or the database) does not exist.
 */
export type AppliedMigrations = Map<string, string[] | null>;
