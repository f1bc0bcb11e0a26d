import type { SchemaStructure } from './schema-structure.js';
import type { Writable } from 'node:stream';
import type { Knex } from 'knex';
import type { Engine, ServerSpec } from './server-spec.js';
import type { ContentFingerprint, FingerprintDepth } from './content-fingerprint.js';
import { InternalError, type TamperedTableError } from '../core/errors.js';
import { TOOL_SETTINGS, type ToolConfig } from './descriptors.js';
import { credentialDirectory } from './credential-file.js';
import type { RecordedRowCounts } from './row-counts.js';

/**
 * A tenant's migrations table, as its knexfile names it (`migrations.tableName`, default
 * `knex_migrations`) and, on PostgreSQL, the schema it is in (`migrations.schemaName`; absent:
 * the session's default, as knex's). Engines without schemas in a database use the name only.
 */
export interface MigrationTable {
  readonly name: string;
  readonly schema?: string;
}

/** Held until released; the server releases it by itself if the process dies. */
export interface HeldLock {
  release(): Promise<void>;
  /**
   * Aborted when the session that holds the lock is gone (the registry restarted, its connection
   * dropped): the server has released the lock, and another tenantctl may take it. Absent where a
   * lock cannot be lost while the process lives (SQLite's file locks).
   */
  readonly lost?: AbortSignal;
}

/** What an engine can do and how it is named and locked: no connection needed. */
export interface EngineDriver {
  readonly engine: Engine;
  /**
   * Whether the engine runs inside this process on local files (SQLite): a spec is a path, not a
   * server with a database and a login, and the registry it holds is this machine's alone.
   */
  readonly embedded: boolean;
  /**
   * Whether tenant accounts are `'user'@'host'` pairs (MySQL), so a server's spec carries the
   * configured host part (`mysqlUserHost`).
   */
  readonly accountHosts: boolean;
  /**
   * Whether suspendAccess locks the database itself (SQLite: the file made read-only) rather than
   * the tenant's user, so a suspension holds even with shared credentials.
   */
  readonly suspendsWithoutUser: boolean;
  /** Whether DDL rolls back with its transaction (MySQL: no, a failed migration may be half applied). */
  readonly transactionalDdl: boolean;
  /**
   * The rows a statement run with `knex.raw` changed, from what the engine's client answered
   * (PostgreSQL `rowCount`, MySQL `affectedRows`, SQLite `changes`); undefined for a read or an
   * answer that does not say. What `tenantctl exec` reports per tenant.
   */
  changedRows(rawResult: unknown): number | undefined;
  /** File name extension of this engine's backups: `pgdump` (pg_dump custom format), `sql.gz`, `sqlite.gz`. */
  readonly backupExtension: string;
  /** Whether one admin connection can read every database (MySQL), so fleet reads batch per server. */
  readonly crossDatabaseReads: boolean;
  /**
   * Whether tenants can get database users of their own: its connections have `users`. Known
   * without a connection, so names are planned before any server is reached.
   */
  readonly supportsUsers: boolean;
  /** Longest database and user name, and the unit (PostgreSQL counts bytes, MySQL characters). */
  readonly limits: { database: number; user: number };
  /**
   * Whether the engine keeps `name` for itself (PostgreSQL: `postgres`, anything `pg_…`); tenant
   * names must not take it.
   */
  isReservedName(name: string): boolean;
  quoteIdentifier(name: string): string;
  /** `drop index …` as the engine writes it (MySQL names the table too); printed by `schema diff --sql`. */
  dropIndexStatement(index: string, table: string): string;
  /** True for the driver's "no such table" error. */
  isMissingTableError(error: unknown): boolean;
  /** True for a unique or primary key violation (an insert lost a race for a key). */
  isUniqueViolation(error: unknown): boolean;
  /**
   * True when an operation failed only because what it names is already gone: the user, the
   * database, or (SQLite) the file. Deleting a half-deleted tenant treats that as done.
   */
  isGoneError(error: unknown): boolean;
  /** True when the server refused the login itself (bad password, unknown user or database). */
  isLoginError(error: unknown): boolean;
  /**
   * True when a login without a password failed because the server asks for one (PostgreSQL:
   * password, md5 or SCRAM authentication, which the client cannot answer; MySQL: access denied
   * "using password: NO"), so the message can say that none is stored rather than "unavailable".
   */
  isPasswordRequired(error: unknown): boolean;
  /**
   * True when the server refused TLS itself (it has none): PostgreSQL's "does not support SSL",
   * mysql2's HANDSHAKE_NO_SSL_SUPPORT. Node's own handshake and certificate errors are recognised
   * by the caller (connect-failure.ts).
   */
  isTlsRefused(error: unknown): boolean;
  /**
   * True when a plain login was refused because the server takes this login over TLS only
   * (PostgreSQL: no pg_hba.conf line for it "no encryption"), so the message can name sslmode.
   * False where the server does not say so (MySQL: a REQUIRE SSL account's plain login is a bare
   * "access denied").
   */
  isTlsRequired(error: unknown): boolean;
  /**
   * When a statement failed because the session lacks a privilege: what it lacks, in the
   * server's words (`SELECT on \`mysql\`.\`user\``, `permission denied for table …`), so a fleet
   * command can report it as a finding or a tenant's outcome; undefined for any other error.
   */
  missingPrivilege(error: unknown): string | undefined;
  /**
   * True when a statement failed because the session or the server went away (restarted, shut
   * down, connection dropped), not because of the statement: trying again on a new connection may
   * succeed. The network errors every driver shares are recognised by the caller as well.
   */
  isSessionLost(error: unknown): boolean;
  /**
   * True when a statement gave up waiting for a lock after the session's lock timeout
   * (TenantConnectionOptions.lockTimeoutMs): PostgreSQL 55P03, MySQL ER_LOCK_WAIT_TIMEOUT, SQLite busy.
   */
  isLockTimeoutError(error: unknown): boolean;
  /**
   * True when a statement was refused for want of a privilege (PostgreSQL 42501; MySQL's
   * ER_*ACCESS_DENIED* such as 1044, 1142, 1227), not a login refused: a migration needing more
   * than the tenant's rights, which an `adminSetup` can give. Never on SQLite (no users).
   */
  isPermissionDenied(error: unknown): boolean;
  /**
   * Runs an SQL script of any number of statements (an `adminSetup` .sql file) on the session
   * `knex` is (opened with TenantConnectionOptions.script): as the server reads it, statement by
   * statement in one round trip, so function bodies and quoting are the server's business.
   */
  runScript(knex: Knex, sql: string): Promise<void>;
  /**
   * Why an admin password cannot serve this engine's dump and restore tools, or undefined
   * (PostgreSQL's read it from a password file, one entry per line: no line breaks). Refused at
   * `server add`/`update`, before anything is recorded.
   */
  refusedPassword(password: string): string | undefined;
  /** Knex configuration for the admin connection to a server (or the registry). */
  adminKnexConfig(spec: ServerSpec): Knex.Config;
  /**
   * The applied migrations in `table` of the database `knex` is connected to, in order; null when
   * there is no such table. The table is checked to be a plain table in the same step as it is read
   * (PostgreSQL: locked, then its relkind; MySQL: HANDLER, which refuses views; SQLite: its type),
   * so nothing a tenant defined runs: anything else throws TamperedTableError.
   */
  readAppliedOn(knex: Knex, table: MigrationTable, database: string): Promise<string[] | null>;
  /**
   * Knex configuration for the registry's session locks (tryLock), apart from its queries: each
   * held lock keeps a connection, so a pool shared with queries would starve them.
   */
  lockKnexConfig(spec: ServerSpec): Knex.Config;
  /**
   * Takes a named, session-scoped lock on a connection of `knex` (a lockKnexConfig one):
   * PostgreSQL advisory lock, MySQL GET_LOCK, SQLite an OS lock on a file next to the registry.
   * A wait queues in the server, first come first served. Resolves undefined if it is held
   * elsewhere and `waitMs` runs out.
   */
  tryLock(knex: Knex, name: string, waitMs: number): Promise<HeldLock | undefined>;
  /**
   * Whether other users of the server could take locks of the same names (PostgreSQL: any role
   * that may connect to the registry database; MySQL: any account, GET_LOCK names are
   * server-wide). The registry then names its locks with a secret of its own (lock-names.ts).
   * False where locks are this machine's files (SQLite).
   */
  readonly sharedLockSpace: boolean;
  /**
   * What lets other users of the server (tenants' users among them) reach the registry database
   * over `knex`, the registry's connection, in words with the statement that closes it; undefined
   * when nothing does (PostgreSQL: CONNECT granted to PUBLIC, a new database's default; MySQL: an
   * account reaches only what it is granted; SQLite: a local file).
   */
  registryExposure(knex: Knex): Promise<string | undefined>;
  /**
   * Closes what registryExposure reports, as far as the registry's user may (PostgreSQL: CONNECT
   * granted to that user, then revoked from PUBLIC; needs the database's owner or a superuser,
   * and changes nothing otherwise). Harmless when nothing is open.
   */
  restrictRegistry(knex: Knex): Promise<void>;
  /** Dumps the database a spec itself names (the registry's): like ServerConnection.dump. */
  dumpAt(spec: ServerSpec, output: Writable, tools: DumpTools): Promise<void>;
  /**
   * Replaces the database a spec names (the registry's) with a dumpAt backup of it, once the file
   * reads back whole: a file, replaced by a temporary name (SQLite); a database dropped, created
   * again and restored into (servers). Nothing else may use it meanwhile.
   */
  restoreAt(spec: ServerSpec, file: string, tools: DumpTools): Promise<void>;
  /** Opens the admin side of one server. */
  connect(spec: ServerSpec): ServerConnection;
}

/**
 * Who a session on a tenant database logs in as (README "Security model"): the tenant's own
 * database user, never the admin with a `SET ROLE` that tenant code could `RESET`. Lifecycles get
 * one from tenantLogin() (src/lifecycle/shared/tenant-login.ts); a driver opens it once per operation,
 * logs in with what it gives, and releases it when the operation's sessions are closed.
 */
export interface TenantLogin {
  readonly database: string;
  /** The tenant's database user; null where it has none (SQLite; `tenantUsers: false`: the admin logs in). */
  readonly user: string | null;
  open(): Promise<OpenLogin>;
}

/** The credentials of one use of a TenantLogin. */
export interface OpenLogin {
  /** Who logs in; null: the server's admin (the spec's credentials). */
  user: string | null;
  /**
   * Passwords to try in this order until one logs in: the registry's, then the one an interrupted
   * rotation was setting; or, while the account is locked (suspended, fenced), the one-time
   * password of the login it is lent (ServerUsers.lendLogin).
   */
  passwords: string[];
  /** The role a lent stand-in takes on login (see LentLogin.role). */
  role?: string;
  /** Call once every session opened with these credentials is closed. */
  release(): Promise<void>;
}

/** A login as the admin itself, on a database the admin owns (the registry's, a scratch copy's). */
export function adminLogin(database: string): TenantLogin {
  return { database, user: null, open: async () => ({ user: null, passwords: [], release: async () => {} }) };
}

/** One set of credentials for a tenant database session: user null logs in as the admin. */
export interface TenantCredentials {
  database: string;
  user: string | null;
  password?: string;
  /** A role the session takes at once (a lent stand-in's: see LentLogin.role). */
  role?: string;
}

/** How tenant schema code's sessions are set up. */
export interface TenantConnectionOptions {
  /**
   * How long a statement may wait for a lock before failing (PostgreSQL `lock_timeout`, MySQL
   * `lock_wait_timeout` and `innodb_lock_wait_timeout` in whole seconds, SQLite `busy_timeout`).
   * Default: the server's own setting.
   */
  lockTimeoutMs?: number;
  /**
   * The session runs migrations or seeds: no server-side statement limit (they may run for hours;
   * `--tenant-timeout` and the heartbeat bound them). Default: tenantctl's own statements (counts,
   * checksums, the migration table), bounded by `statementTimeout`.
   */
  schemaWork?: boolean;
  /** The session runs a script of several statements (runScript): MySQL lets one query hold them. */
  script?: boolean;
  /**
   * The admin's session runs the operator's code (adminSetup) in a database the tenant owns: the
   * name search ignores what the database's owner set (PostgreSQL: `search_path = public`, the
   * catalog first), so a tenant cannot shadow what the code calls with functions of its own.
   */
  ownNameSearch?: boolean;
  /**
   * The session only reads (`tenantctl query`): set up as the connection opens, with no round
   * trip of its own, every transaction of it is read only and each statement is cut after
   * `timeoutMs` (instead of statementTimeout). A connection the setting failed on never opens.
   */
  readOnly?: { timeoutMs: number };
}

/**
 * The admin side of one database server: the operations tenant lifecycles are made of. Every
 * engine has the parts it extends; what only some engines can do is an optional capability
 * (`users`, `migrationFingerprints`), undefined where the engine cannot, never a stub.
 */
export interface ServerConnection
  extends DatabaseAdmin, TenantAccess, DumpRestore, DatabaseInspection, TenantConnections {
  /** Schema templates (README "Templates"): databases migrated once, that `create` copies. */
  readonly templates: SchemaTemplates;
  readonly driver: EngineDriver;
  /**
   * The server's database users (PostgreSQL roles, MySQL accounts); undefined where the engine
   * has none (SQLite), so a caller asks `if (server.users)` instead of meeting a refusal.
   * Present exactly when `driver.supportsUsers`.
   */
  readonly users: ServerUsers | undefined;
  /**
   * Fingerprints of applied migrations that the server keeps itself (PostgreSQL); undefined where
   * the engine keeps none (MySQL reads every migration table in one query anyway; SQLite reads files).
   */
  readonly migrationFingerprints: MigrationFingerprints | undefined;
  /**
   * The jobs a server runs in a database by itself, on a schedule (MySQL/MariaDB events);
   * undefined where tenantctl sees none (SQLite; PostgreSQL has no scheduler of its own, and an
   * extension's such as pg_cron is not looked at).
   */
  readonly scheduledJobs: ScheduledJobs | undefined;
  /**
   * The server's own replication, for moving a tenant while it keeps working (PostgreSQL: logical
   * replication; MySQL/MariaDB: binlog replication into a channel of its own); undefined where
   * tenantctl has no online move for the engine (it moves offline).
   */
  readonly onlineMoves: OnlineMoves | undefined;
  /**
   * Starts asking the server, every `intervalMs`, whether it still answers, on a connection of
   * its own; when it stops (two heartbeats missed), the server is lost: see `lost`.
   */
  watch(intervalMs: number): void;
  /**
   * Asks the server at once, over the heartbeat, whether it still answers (after a failure that
   * may be its fault); one that does not is lost (see `abandon`). Resolves whether it answers.
   */
  confirmAnswering(): Promise<boolean>;
  /**
   * Declares the server lost: `lost` aborts with `reason`, every connection opened through this
   * object (admin, per-database, held tenant pools) is cut and its dump tools are killed; every
   * later call fails with `reason`.
   */
  abandon(reason: Error): void;
  close(): Promise<void>;
}

/**
 * A schema template: a database migrated once as a user of its own (where the engine has users),
 * exactly as `create` migrates a tenant, then copied into each new tenant's database. Each engine
 * copies it the fastest exact way it has; whatever the copy, the tenant's database ends as a
 * replayed create leaves it (owners, grants, definers, the migration table's rows).
 */
export interface SchemaTemplates {
  /**
   * Closes a built template to every login and makes it copyable: PostgreSQL the database given
   * to the admin (so that REASSIGN OWNED in a clone leaves it alone), ALLOW_CONNECTIONS false and
   * IS_TEMPLATE true, its sessions ended and its role NOLOGIN; MySQL the account locked and its
   * sessions ended; SQLite the WAL folded into the file, which is made read-only.
   */
  sealTemplate(database: string, user: string | null): Promise<void>;
  /**
   * Creates `database` from a sealed template, as createDatabase would (PUBLIC's access revoked):
   * PostgreSQL `CREATE DATABASE … TEMPLATE` (the whole schema and the migration table's rows);
   * SQLite a copy of the file; MySQL an empty database, which finishClone fills.
   */
  cloneDatabase(template: string, database: string): Promise<void>;
  /**
   * Makes a cloned database, once its user has it (ServerUsers.createUser), what a replayed
   * create leaves: PostgreSQL everything the template's role owns reassigned (REASSIGN OWNED, in
   * that database only) to the tenant's user, or to the admin where it has none; MySQL the
   * template's tables (the migration tables' rows included), views, triggers and routines made
   * in one session logged in as `login`, so their definer is the tenant's user; SQLite nothing.
   */
  finishClone(
    template: { database: string; user: string | null },
    login: TenantLogin,
    table: MigrationTable,
  ): Promise<void>;
  /** Drops a template's database and user, sealed or half built. Safe to repeat. */
  dropTemplate(database: string, user: string | null): Promise<void>;
}

/**
 * The scheduled-jobs capability. Suspend disables a tenant's enabled jobs, which would otherwise
 * keep running (and writing) while its user is locked out, and reactivate enables them again.
 */
export interface ScheduledJobs {
  /** The names of the jobs of `database` that are enabled now, in order. */
  enabledJobs(database: string): Promise<string[]>;
  /**
   * Disables (or enables) the named jobs of `database`. Each keeps its definer, so its code runs as
   * the same user as before (MySQL's ALTER EVENT would otherwise make the admin its definer). A job
   * that is gone is skipped; repeating it is harmless.
   */
  setJobsEnabled(database: string, names: string[], enabled: boolean): Promise<void>;
}

/** Databases on one server: creating, dropping and finding them. */
export interface DatabaseAdmin {
  /** Checks the server answers; returns its version string. Throws UnreachableError. */
  ping(): Promise<string>;
  /**
   * What the server says it is, the same whatever address or name reaches it, so that one server
   * is never registered twice and a different server answering at a known address is noticed:
   * PostgreSQL its system identifier and port; MySQL its server_uuid; where the server has no
   * such identity of its own (MariaDB, a SQLite directory) a mark tenantctl keeps on it, written
   * on first contact. Opaque, engine-prefixed, at most 255 characters.
   */
  identity(): Promise<string>;
  /**
   * What the admin login lacks of what tenantctl needs (create databases, create users or roles,
   * grant), in words; empty when it can do it all.
   */
  missingPrivileges(): Promise<string[]>;
  /** On-disk size of each database that exists, in one query where the engine can. */
  databaseSizes(databases: string[]): Promise<Map<string, number>>;
  databaseExists(name: string): Promise<boolean>;
  createDatabase(name: string): Promise<void>;
  /** Drops the database if it exists, ending its open connections first. */
  dropDatabase(name: string): Promise<void>;
  /** Every database on the server (for finding orphans). */
  listDatabases(): Promise<string[]>;
  /**
   * Marks `database` as the registry's whose mark is `mark` (see ownership-mark.ts for where each
   * engine keeps it). Called right after the database is created and again after a restore into
   * it; repeating it is harmless, and a database that carries the mark already is not written.
   */
  markDatabase(database: string, mark: string): Promise<void>;
  /**
   * Takes back what tenantctl wrote into a database it gives up without dropping (an abandoned
   * adopt): the ownership mark and, where the engine keeps one, the migrations stamp with its
   * trigger. Executes nothing of the tenant's. Safe to repeat; the data is not touched.
   */
  unmarkDatabase(database: string): Promise<void>;
  /** The registry mark each named database carries (null: none), in one query where the engine can. */
  readMarks(databases: string[]): Promise<Map<string, string | null>>;
}

/** Suspending and resuming a tenant's access in the database itself. */
export interface TenantAccess {
  /**
   * Takes a tenant's access away, in the database itself: PostgreSQL NOLOGIN and its sessions
   * ended; MySQL ACCOUNT LOCK and its connections killed; SQLite the file made read-only. The
   * data is untouched. Idempotent. Where access is a user's (see EngineDriver.suspendsWithoutUser)
   * and the tenant has none (shared credentials), there is nothing to lock: returns false.
   */
  suspendAccess(database: string, user: string | null): Promise<boolean>;
  /** Reverses suspendAccess. Idempotent. */
  resumeAccess(database: string, user: string | null): Promise<void>;
  /** Whether the tenant's access is suspended in the database (false where it cannot be). */
  accessSuspended(database: string, user: string | null): Promise<boolean>;
}

/** Dumps and restores: backup, restore, move and verify. */
export interface DumpRestore {
  /**
   * Streams a consistent, compressed dump of `database` into `output`. Throws if the tool fails
   * or the dump is incomplete. Credentials reach the tool through its environment or an option
   * file, never its command line.
   */
  dump(login: TenantLogin, output: Writable, tools: DumpTools): Promise<void>;
  /**
   * Dumps like `dump` and returns every table's row count in the dump, over one login session as
   * the tenant. PostgreSQL counts in the very snapshot the dump reads (a repeatable-read
   * transaction exports it to pg_dump --snapshot), so every count is exact even while the
   * application writes; MySQL, whose dump tool shares no snapshot, counts before and after the
   * dump on that one session (see bracketedCounts: a table whose count moved is null). Absent
   * (SQLite): the caller counts before and after the dump itself.
   */
  dumpCounted?(login: TenantLogin, output: Writable, tools: DumpTools): Promise<RecordedRowCounts>;
  /** Checks that a dump file is complete and readable, as the engine's restore tool would read it. */
  checkDump(file: string, tools: DumpTools): Promise<void>;
  /**
   * Restores a dump into an existing, empty database, logged in as `login` (the tenant's own user),
   * so whatever the file asks beyond that user's own database fails: objects are owned by that user
   * (PostgreSQL `--no-owner --no-privileges`; MySQL definers rewritten to it), and the MySQL client
   * runs no client command (`--sandbox`, `--binary-mode`, or tenantctl's own check of the file).
   */
  restore(login: TenantLogin, file: string, tools: DumpTools): Promise<void>;
  /**
   * What is wrong with this machine's dump tools for this server (missing, too old), or undefined (also where none
   * are needed).
   */
  checkDumpTools(tools: DumpTools): Promise<string | undefined>;
}

/** Reading what databases hold: applied migrations, tables, rows, content, statistics. */
export interface DatabaseInspection {
  /**
   * Reads the migration table of many databases with as few round trips as the engine allows, each
   * checked to be a plain table as it is read (see EngineDriver.readAppliedOn): MySQL with HANDLER
   * over the admin connection, which reads a base table's rows and runs nothing of the tenant's;
   * PostgreSQL from the fingerprints in the catalog where they prove `available`'s prefix, else one
   * short connection per database as the tenant, `concurrency` at a time; SQLite each file.
   */
  readAppliedMigrations(
    logins: TenantLogin[],
    table: MigrationTable,
    concurrency: number,
    available?: string[],
  ): Promise<AppliedMigrations>;
  /** The tables of a database, schema-qualified where the engine has schemas (from the catalog). */
  listTables(database: string): Promise<string[]>;
  /** Exact row count of every table, counted as `login`. */
  rowCounts(login: TenantLogin): Promise<Record<string, number>>;
  /**
   * Exact row count and content checksum of every table, and every sequence/auto-increment
   * position, computed by the server itself where it can (see ContentFingerprint): what `move`
   * compares between the source and the target before it switches. `rows`: counts only, no
   * checksums (see FingerprintDepth); with `known`, the tables named there are listed with that
   * count, not counted again (an online move's tables unwritten since its live comparison).
   */
  contentFingerprint(
    login: TenantLogin,
    depth?: FingerprintDepth,
    known?: Record<string, number>,
  ): Promise<ContentFingerprint>;
  /**
   * Size, tables, rows and open connections of many databases, plus their applied migrations,
   * with as few round trips as the engine allows: sizes and connections in one query per server
   * where the engine can (PostgreSQL, MySQL); tables, rows and migrations in one query per server
   * on MySQL, one short connection per database (as the tenant) on PostgreSQL. Rows are the
   * engine's estimate unless `exact` (counted as the tenant). Databases that do not exist are
   * missing from the map.
   */
  databaseStats(logins: TenantLogin[], options: DatabaseStatsOptions): Promise<Map<string, DatabaseStats>>;
  /**
   * Runs one statement of the operator's (`tenantctl query`) on a session as `login`, inside a
   * read-only transaction, so that a write, wherever it hides (a CTE, a function), is refused by
   * the server itself: PostgreSQL `BEGIN READ ONLY` over the extended protocol (one statement
   * only); MySQL/MariaDB the session made read only first (DDL too); SQLite the file
   * opened read-only with `query_only`. The statement may run `timeoutMs` (PostgreSQL
   * `statement_timeout`, MariaDB `max_statement_time`, MySQL `max_execution_time`, SQLite
   * between rows). The rows are the tenant's only: one tenant's result is held, never a fleet's.
   */
  readOnlyQuery(login: TenantLogin, sql: string, options: ReadOnlyQueryOptions): Promise<QueryRows>;
  /**
   * The database's structure (`tenantctl schema diff`), read from the catalog on a session as
   * `login`, normalised so that names the engine makes up and the catalog's order do not count
   * (see SchemaStructure): postgres-structure, mysql-structure, sqlite-structure.
   */
  readStructure(login: TenantLogin): Promise<SchemaStructure>;
  /**
   * A digest of the catalog readStructure reads, in one query as `login`: it changes whenever the
   * structure may have (any DDL), so a structure read under the same digest still holds.
   */
  structureDigest(login: TenantLogin): Promise<string>;
}

export interface ReadOnlyQueryOptions {
  /** Named bindings (`:name` in the statement), as strings. */
  bindings?: Record<string, string>;
  timeoutMs: number;
}

/** One tenant's answer to a read: its columns in order, and its rows. */
export interface QueryRows {
  columns: string[];
  rows: Array<Record<string, unknown>>;
}

/** Knex configurations for one tenant database. */
export interface TenantConnections {
  /** Aborted, with the reason, once the server stopped answering (see ServerConnection.watch). */
  readonly lost: AbortSignal;
  /** Has `knex` cut at once should the server be lost while it is open; returns the release. */
  hold(knex: Knex): () => void;
  /** Knex config for one session on a tenant database with these credentials (pool of one). */
  tenantKnexConfig(credentials: TenantCredentials, options?: TenantConnectionOptions): Knex.Config;
  /** Knex config as the tenant's own user would connect (what the application uses). */
  tenantUserKnexConfig(database: string, user: string, password: string): Knex.Config;
}

/** The migration-fingerprints capability: a server that keeps each database's fingerprint. */
export interface MigrationFingerprints {
  /**
   * Fingerprints (see migrationFingerprint) of many databases' applied migrations, read in one
   * query; null for a database that keeps none yet.
   */
  readMigrationFingerprints(databases: string[]): Promise<Map<string, string | null>>;
  /** Has the server keep that fingerprint from now on (PostgreSQL: a trigger). */
  keepMigrationFingerprint(knex: Knex, table: MigrationTable): Promise<void>;
}

/** What OnlineMoves.compareLive found: both fingerprints and the source's write marks, or why there are none. */
export type LiveComparison =
  { source: ContentFingerprint; target: ContentFingerprint; pausedMs: number; marks: WriteMarks } | { skipped: string };

/**
 * Per table of the source, read while the live comparison held its write lock: what tells, inside
 * the fence, that the table has not been written since (see OnlineMoves.unwrittenSince). Opaque,
 * the engine's own; a table without one is taken as written.
 */
export type WriteMarks = Record<string, string>;

/**
 * The online-move capability: a copy kept up to date by the servers' own replication while the
 * tenant works, so that it is fenced only for the last catch-up. Every object is named after the
 * move (`name`), so a killed move's objects are found again and removed. The source side's calls
 * are made on the source server, the target side's on the target; a call that needs both sides
 * (how far behind the target is) is made on the source and given the target.
 */
export interface OnlineMoves {
  /** How this engine replicates for a move, in words (what `--dry-run` says). */
  readonly method: string;
  /**
   * Whether the initial copy is a dump written to the work directory first (MySQL: a snapshot of
   * the rows), so the move needs room there as an offline one does; false where replication
   * copies the rows itself (PostgreSQL's subscription).
   */
  readonly dumpsInitialCopy: boolean;
  /** Why this server cannot be an online move's source (each names the setting), empty when it can. */
  sourceBlockers(): Promise<string[]>;
  /** Why this server cannot take an online move from `source`, empty when it can. */
  targetBlockers(source: ServerConnection): Promise<string[]>;
  /** Source: tables that need a full replica identity for the move (no primary key, no identity index). */
  tablesWithoutKey(database: string): Promise<string[]>;
  /**
   * Source: what the target's database starts from, copied into it as each side's tenant user
   * (PostgreSQL: the schema, no rows; MySQL: a consistent snapshot of schema and rows, dumped into
   * `workDir` first). Returns where in the source's change stream replication must start (opaque;
   * null where the subscription finds its own start).
   */
  initialCopy(
    sourceLogin: TenantLogin,
    target: ServerConnection,
    targetLogin: TenantLogin,
    tools: DumpTools,
    workDir: string,
  ): Promise<string | null>;
  /**
   * Source: publishes the database (`fullTables` given a full replica identity first) with a
   * replication login of the move's own; returns how the target connects, a secret.
   */
  publish(name: string, database: string, tenantUser: string, fullTables: string[]): Promise<string>;
  /** Target: replicates the source into its database from `start` (initialCopy's), starting at once. */
  subscribe(name: string, database: string, connection: string, start: string | null): Promise<void>;
  /** Target: tables whose initial copy is not done yet; throws once replication has failed. */
  tablesCopying(name: string, database: string): Promise<number>;
  /** Source: bytes of WAL (or binlog) `target` has still to apply; null when the move's replication is gone. */
  lagBytes(name: string, target: ServerConnection): Promise<number | null>;
  /**
   * Source and target, before the fence: both copies' content fingerprints (tables only) at one
   * point of the change stream, computed while the tenant keeps working. The source's writes
   * pause only until the target has applied them and both sides hold a snapshot (`pausedMs`);
   * the checksums are then computed in those snapshots. `skipped` (the reason) where no such
   * point could be had within the limits: the fence's verify then compares content itself.
   */
  compareLive(
    name: string,
    sourceLogin: TenantLogin,
    target: ServerConnection,
    targetLogin: TenantLogin,
  ): Promise<LiveComparison>;
  /**
   * Source, while compareLive holds the tables' write lock (no write of the tenant's is under way):
   * per table, what the server keeps that any later write changes; tables the engine cannot tell
   * about are left out. Read as the tenant where the tenant's session can (PostgreSQL), else from
   * the server's catalog only.
   */
  writeMarks(login: TenantLogin): Promise<WriteMarks>;
  /**
   * Source, inside the fence (the tenant's sessions gone): the tables whose marks show that
   * nothing was written to them since `marks` were read. Their rows need no recount: the live
   * comparison's still hold, on both sides (the target's copy of a table changes only by what
   * replication brings of the source's writes to it).
   */
  unwrittenSince(login: TenantLogin, marks: WriteMarks): Promise<string[]>;
  /**
   * Source: takes the tenant's access away (as suspendAccess), sparing the move's replication
   * session, and returns once the tenant's sessions are gone (their last commits written).
   */
  fence(name: string, database: string, user: string): Promise<void>;
  /** Source: waits until `target` has applied everything written until now; throws after `timeoutMs`. */
  awaitApplied(name: string, target: ServerConnection, timeoutMs: number): Promise<void>;
  /**
   * Source → target: every sequence (MySQL: AUTO_INCREMENT position) set from the source's, each
   * side read/written as its tenant user.
   */
  copySequences(sourceLogin: TenantLogin, target: ServerConnection, targetLogin: TenantLogin): Promise<number>;
  /** Target: the subscription removed (without touching the source). Safe to repeat; the database may be gone. */
  unsubscribe(name: string, database: string): Promise<void>;
  /** Source: slot, publication and replication login removed, replica identities back. Safe to repeat. */
  unpublish(name: string, database: string, fullTables: string[]): Promise<void>;
  /** Replication objects on this server whose name starts with `prefix` (slots, subscriptions, logins): for doctor. */
  leftovers(prefix: string): Promise<Array<{ what: string; name: string }>>;
  /**
   * Removes every replication object of that name on this server (doctor --fix). `recorded` is
   * what the registry's move of that name says of its source (null: no such move): the source
   * database, and the tables whose replica identity it changed, which get theirs back. Safe to repeat.
   */
  removeLeftover(name: string, recorded: { database: string; fullTables: string[] } | null): Promise<void>;
}

/** The users capability of a server whose engine has database users. */
export interface ServerUsers {
  userExists(name: string): Promise<boolean>;
  /** Creates a user that can log in and use only `database`. The password never reaches logs or errors. */
  createUser(name: string, password: string, database: string): Promise<void>;
  /** Drops the user if it exists. */
  dropUser(name: string): Promise<void>;
  /**
   * Gives an existing user a new password (PostgreSQL: a SCRAM verifier, as createUser; MySQL:
   * ALTER USER). Its open sessions stay unless `endSessions`. Repeating it is harmless. The
   * password never reaches logs or errors.
   */
  setPassword(user: string, password: string, options?: { endSessions?: boolean }): Promise<void>;
  /**
   * Whether a loan changes the tenant's own account (MySQL: unlocked with a one-time password), so
   * that only one may be out at a time; false where each loan is a login of its own (PostgreSQL).
   */
  readonly lendsOwnAccount: boolean;
  /**
   * Lends the login of a locked (suspended, fenced) account to tenantctl for one operation, so
   * that what it reads, dumps, restores or migrates is still done with the tenant's rights and
   * no more, while the application stays out. PostgreSQL: a stand-in role of its own that is a
   * member of the tenant's role and nothing else, with a one-time password, a short validity and
   * a connection limit; the tenant's role stays NOLOGIN (so the application is refused even where
   * the server trusts logins without a password). MySQL: the account itself, unlocked with a
   * one-time password in place of its own, in one statement (its definers and the routines only
   * it may read stay its own). Ended by endLoan.
   */
  lendLogin(user: string, database: string): Promise<LentLogin>;
  /**
   * Ends a loan: the stand-in's sessions ended and the stand-in dropped (what it owns given to
   * the tenant first), or the account locked again with its own `password` in one statement and
   * its sessions ended. With `lent` null, cleans up what a loan a killed tenantctl left: stand-ins
   * past their validity, or an account with a one-time password (locked with its own again).
   */
  endLoan(user: string, lent: LentLogin | null, password: string, database: string): Promise<void>;
  /** Gives an existing user its (re-created) database: ownership on PostgreSQL, grants on MySQL. */
  grantDatabase(user: string, database: string): Promise<void>;
  /**
   * Gives `user` the database and what is in it, for `adopt --create-user`: PostgreSQL the
   * database and every schema, table, view, sequence, routine and type outside the catalog and
   * extensions (ALTER … OWNER, one object at a time: REASSIGN OWNED would reach the old owner's
   * objects in other databases too); MySQL grantDatabase (MySQL objects have no owners).
   */
  giveObjects(user: string, database: string): Promise<void>;
  /**
   * Whether `password` is `user`'s, by the server's stored verifier, where the admin may read it:
   * a login alone proves nothing on a server that trusts local logins (PostgreSQL `trust`). Null
   * where it cannot be told (no verifier readable); the login then decides.
   */
  passwordMatches(user: string, password: string): Promise<boolean | null>;
  /** Every user on the server (for finding orphans). */
  listUsers(): Promise<string[]>;
}

/** The login ServerUsers.lendLogin gives for a locked account. */
export interface LentLogin {
  /** Who logs in: a stand-in (PostgreSQL) or the tenant's user itself (MySQL). */
  user: string;
  password: string;
  /** The role sessions take at once (PostgreSQL: the tenant's), so that what they create belongs to the tenant. */
  role?: string;
}

/**
 * The users of a server that a tenant's user lives on. Only an engine with users ever gives a
 * tenant one (tenantNames), so its absence here is a bug, not a user error.
 */
export function usersOf(server: ServerConnection): ServerUsers {
  if (!server.users) throw new InternalError(`${server.driver.engine} has no database users, yet a tenant has one`);
  return server.users;
}

/**
 * What each tenant database's migration table holds: the applied names in order, null where the
 * table (or the database) does not exist, or the TamperedTableError that says it is not a plain
 * table (and was not read).
 */
export type AppliedMigrations = Map<string, string[] | null | TamperedTableError>;

/**
 * The dump and restore executables, as configured, keyed by each engine's tool settings (see its
 * descriptor). Bare names are looked up on PATH; undefined lets the driver pick what is installed.
 * `credentialDir` is where a tool's credential file is written while it runs (see credential-file.ts).
 */
export type DumpTools = Readonly<ToolConfig> & { readonly credentialDir: string };

/** DumpTools from any object holding the tool settings and `home` (the configuration). */
export function dumpToolsFrom(settings: ToolConfig & { home: string }): DumpTools {
  const tools = Object.fromEntries(TOOL_SETTINGS.map((tool) => [tool.key, settings[tool.key]])) as ToolConfig;
  return { ...tools, credentialDir: credentialDirectory(settings.home) };
}

export interface DatabaseStatsOptions {
  /** Count rows instead of taking the engine's estimate (implies `tables`). */
  exact: boolean;
  /**
   * Gather tables and rows even where that needs a connection per database (PostgreSQL). When
   * false, an engine that would need one leaves them null; the rest comes from server-wide queries.
   */
  tables?: boolean;
  /** Databases read at once where each needs a connection. */
  concurrency: number;
  migrationsTable: MigrationTable;
  /** The migrations available, in order: lets an engine that keeps fingerprints skip reading the table. */
  available: string[];
}

export interface DatabaseStats {
  sizeBytes: number;
  /** Null where not gathered (see DatabaseStatsOptions.tables). */
  tables: number | null;
  rows: number | null;
  /** Whether `rows` was counted rather than estimated. */
  rowsExact: boolean;
  /** Open connections now; null where the engine cannot tell (SQLite). */
  connections: number | null;
  /** Applied migrations in order; null without a migration table; the error when it is not a plain table. */
  applied: string[] | null | TamperedTableError;
  /**
   * When the database was last used, as far as the engine can tell (ISO time), or null: PostgreSQL
   * the latest state change of a session open on it now (none open: null); MySQL/MariaDB the
   * latest table update time; SQLite the file's last write.
   */
  lastActivity: string | null;
}

/**
 * restoreAt for engines whose spec names a database on a server: checked whole, then the
 * database dropped (its sessions ended), created again and restored into, from the server's
 * admin side (the spec's database is not connected to: it is the one replaced).
 */
export async function restoreNamedDatabase(
  driver: EngineDriver,
  spec: ServerSpec,
  file: string,
  tools: DumpTools,
): Promise<void> {
  const server = driver.connect({ ...spec, database: undefined });
  const database = spec.database!;
  try {
    await server.checkDump(file, tools);
    await server.dropDatabase(database);
    await server.createDatabase(database);
    await server.restore(adminLogin(database), file, tools);
  } finally {
    await server.close();
  }
}

/** dumpAt for engines whose spec names a database on a server: connect, dump it, close. */
export async function dumpNamedDatabase(
  driver: EngineDriver,
  spec: ServerSpec,
  output: Writable,
  tools: DumpTools,
): Promise<void> {
  const server = driver.connect(spec);
  try {
    await server.dump(adminLogin(spec.database!), output, tools);
  } finally {
    await server.close();
  }
}
