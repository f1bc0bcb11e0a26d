import knexFactory, { type Knex } from 'knex';
import { TenantctlError, UnreachableError, errorMessage } from '../core/errors.js';
import { redact } from '../core/secrets.js';
import type { Writable } from 'node:stream';
import {
  dumpNamedDatabase,
  type AppliedMigrations,
  type DatabaseStats,
  type DatabaseStatsOptions,
  type DumpTools,
  type EngineDriver,
  type ScheduledJobs,
  type ServerConnection,
  type ServerUsers,
  type TenantConnectionOptions,
} from './engine-driver.js';
import { mysqlCheckDump, mysqlDumpTo, mysqlRestoreFrom } from './mysql-dump.js';
import { resolveTool, type ToolControl } from './run-tool.js';
import {
  LOCK_ANSWER_MARGIN_MS,
  LOCK_IDLE_MS,
  LOCK_POOL_MAX,
  lockKey64,
  lockOnDedicatedConnection,
} from './lock-helpers.js';
import type { Socket } from 'node:net';
import {
  guardConnection,
  KEEPALIVE_DELAY_MS,
  withAnswerDeadline,
  type RawConnectionParts,
} from './connection-guard.js';
import { ServerWatch } from './server-watch.js';
import { socketDeadlines, statementLimit, type ConnectionUse } from './socket-deadlines.js';
import type { ServerSpec } from './server-spec.js';
import { QUIET_KNEX_LOG } from './knex-log.js';
import { mysqlFingerprint } from './mysql-fingerprint.js';
import { cachingSha2PasswordHash, nativePasswordHash } from './mysql-password.js';
import { MARK_DATABASE, mysqlIdentity } from './mysql-identity.js';
import type { ContentFingerprint } from './content-fingerprint.js';
import { runPool } from '../core/run-pool.js';

/** Tenants read per UNION query: well inside packet and table-open limits. */
const BATCH = 250;

const quote = (name: string) => `\`${name.replaceAll('`', '``')}\``;

const RESERVED = new Set([
  'mysql',
  'sys',
  'information_schema',
  'performance_schema',
  'root',
  'mariadb.sys',
  'mysql.sys',
  'mysql.session',
  'mysql.infoschema',
  MARK_DATABASE,
]);

/** In GRANT, `_` and `%` in a database name are wildcards: escape them, or `tenant_a` also grants `tenantXa`. */
const grantPattern = (database: string) => quote(database.replace(/[_%]/g, (c) => `\\${c}`));

function connection(
  spec: ServerSpec,
  database?: string,
  user = spec.user,
  password = spec.password,
): Knex.MySql2ConnectionConfig {
  return {
    host: spec.host,
    port: spec.port,
    user,
    password,
    database,
    charset: 'utf8mb4',
    connectTimeout: spec.connectTimeoutMs,
    enableKeepAlive: true,
    keepAliveInitialDelay: KEEPALIVE_DELAY_MS,
  };
}

/** A mysql2 connection's socket and state, as the connection guard needs them. */
const MYSQL_PARTS: RawConnectionParts = {
  socket: (connection) => (connection as { stream?: Socket }).stream,
  busy: (connection) => Boolean((connection as { _command?: unknown })._command),
};

/**
 * The pool options every mysql2 connection gets: its answer and close deadlines (see
 * connection-guard), then the session settings: the statement limit (MariaDB
 * `max_statement_time` in seconds, MySQL `max_execution_time` in ms, which bounds only SELECT)
 * and any `settings` given (lock waits).
 */
function pool(
  spec: ServerSpec,
  max: number,
  use: ConnectionUse = 'tenantctl',
  settings: string[] = [],
): Knex.PoolConfig {
  const deadlines = socketDeadlines(spec, use);
  const limit = statementLimit(spec, use);
  return {
    min: 0,
    max,
    afterCreate: (conn: RawMysqlConnection, done: (error: Error | null, conn: unknown) => void) => {
      guardConnection(conn, MYSQL_PARTS, deadlines);
      const statements = [...settings];
      const next = (error: Error | null): void => {
        const sql = statements.shift();
        if (error || sql === undefined) done(error, conn);
        else conn.query(sql, next);
      };
      if (limit === undefined) return next(null);
      conn.query(`SET SESSION max_statement_time = ${limit / 1000}`, (error) => {
        // MySQL names it otherwise (and counts milliseconds).
        if ((error as { errno?: number } | null)?.errno === ER_UNKNOWN_SYSTEM_VARIABLE)
          conn.query(`SET SESSION max_execution_time = ${Math.round(limit)}`, next);
        else next(error);
      });
    },
  };
}

const ER_UNKNOWN_SYSTEM_VARIABLE = 1193;

export const mysqlDriver: EngineDriver = {
  engine: 'mysql',
  embedded: false,
  accountHosts: true,
  suspendsWithoutUser: false,
  transactionalDdl: false,
  backupExtension: 'sql.gz',
  crossDatabaseReads: true,
  supportsUsers: true,
  limits: { database: 64, user: 32 },
  isReservedName: (name) => RESERVED.has(name),
  quoteIdentifier: quote,
  isMissingTableError: (error) => (error as { code?: string } | null)?.code === 'ER_NO_SUCH_TABLE',
  isUniqueViolation: (error) => (error as { code?: string } | null)?.code === 'ER_DUP_ENTRY',
  // ALTER USER / DROP USER on an account that does not exist: ER_CANNOT_USER (1396); a database: ER_BAD_DB_ERROR.
  isGoneError: (error) =>
    ['ER_CANNOT_USER', 'ER_BAD_DB_ERROR'].includes(String((error as { code?: string } | null)?.code)),
  isLoginError: (error) =>
    ['ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR', 'ER_BAD_DB_ERROR'].includes(
      String((error as { code?: string } | null)?.code),
    ),
  // The server went away under the connection, is shutting down, or killed it.
  isSessionLost: (error) =>
    ['PROTOCOL_CONNECTION_LOST', 'ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED', 'ECONNRESET', 'EPIPE'].includes(
      String((error as { code?: string } | null)?.code),
    ) || /closed state|server has gone away/i.test(String((error as Error | null)?.message)),
  // Both a metadata lock (lock_wait_timeout) and a row lock (innodb_lock_wait_timeout) give 1205.
  isLockTimeoutError: (error) => (error as { code?: string } | null)?.code === 'ER_LOCK_WAIT_TIMEOUT',

  // The tools' option file takes any password (escaped); SQLite has none.
  refusedPassword: () => undefined,

  adminKnexConfig(spec) {
    return {
      client: 'mysql2',
      log: QUIET_KNEX_LOG,
      connection: connection(spec, spec.database),
      pool: pool(spec, 2),
    };
  },

  lockKnexConfig(spec) {
    return {
      client: 'mysql2',
      log: QUIET_KNEX_LOG,
      connection: connection(spec, spec.database),
      pool: { ...pool(spec, LOCK_POOL_MAX, 'locks'), idleTimeoutMillis: LOCK_IDLE_MS },
    };
  },

  tryLock(knex, name, waitMs) {
    // GET_LOCK names are limited to 64 characters; the hash keeps long names distinct.
    const lockName = `tenantctl:${lockKey64(name)}`;
    // GET_LOCK waits in the server's own queue, first come first served, whole seconds (0: not at all).
    const seconds = waitMs > 0 ? Math.max(1, Math.ceil(waitMs / 1000)) : 0;
    return lockOnDedicatedConnection(
      knex,
      async (conn) => {
        const [rows] = await withAnswerDeadline(conn, seconds * 1000 + LOCK_ANSWER_MARGIN_MS, () =>
          knex.raw('select get_lock(?, ?) as ok', [lockName, seconds]).connection(conn),
        );
        return Number(rows[0].ok) === 1;
      },
      async (conn) => {
        await knex.raw('select release_lock(?)', [lockName]).connection(conn);
      },
    );
  },

  // GET_LOCK names are server-wide: every account on the server shares them.
  sharedLockSpace: true,

  // An account reaches only the databases it is granted; tenants are granted their own alone.
  registryExposure: async () => undefined,
  restrictRegistry: async () => undefined,

  dumpAt(spec, output, tools) {
    return dumpNamedDatabase(this, spec, output, tools);
  },

  connect(spec) {
    return new MysqlServer(spec);
  },
};

class MysqlServer implements ServerConnection, ServerUsers, ScheduledJobs {
  readonly users: ServerUsers = this;
  readonly scheduledJobs: ScheduledJobs = this;
  /** One UNION per batch reads every migration table: nothing to keep. */
  readonly migrationFingerprints = undefined;
  readonly driver = mysqlDriver;
  private readonly watcher = new ServerWatch();
  private readonly adminKnex: Knex;
  private heartbeat: Knex | undefined;

  constructor(private readonly spec: ServerSpec) {
    this.adminKnex = knexFactory(mysqlDriver.adminKnexConfig(spec));
    this.watcher.hold(this.adminKnex);
  }

  /** The admin pool; once the server is lost, every call fails with the reason at once. */
  private get admin(): Knex {
    this.watcher.assertAnswering();
    return this.adminKnex;
  }

  get lost(): AbortSignal {
    return this.watcher.lost;
  }

  hold(knex: Knex): () => void {
    return this.watcher.hold(knex);
  }

  watch(intervalMs: number): void {
    this.heartbeat ??= knexFactory({
      client: 'mysql2',
      log: QUIET_KNEX_LOG,
      connection: connection(this.spec, this.spec.database),
      pool: pool(this.spec, 1, 'heartbeat'),
      // A ping waits for the pool no longer than it waits for the server.
      acquireConnectionTimeout: socketDeadlines(this.spec, 'heartbeat').answerMs,
    });
    const heartbeat = this.heartbeat;
    this.watcher.hold(heartbeat);
    this.watcher.start(() => heartbeat.raw('select 1'), intervalMs);
  }

  confirmAnswering(): Promise<boolean> {
    return this.watcher.confirm();
  }

  abandon(reason: Error): void {
    this.watcher.abandon(reason);
  }

  /** What stops a dump or restore tool: this server lost, or (dumps) its output silent past the answer deadline. */
  private toolControl(dump: boolean): ToolControl {
    const { answerMs } = socketDeadlines(this.spec, 'tenantctl');
    return { signal: this.watcher.lost, ...(dump && answerMs ? { idleMs: answerMs } : {}) };
  }

  private get host(): string {
    return this.spec.userHost ?? '%';
  }

  async ping(): Promise<string> {
    try {
      const [rows] = await this.admin.raw('select version() as version');
      const version = String(rows[0].version);
      return /mariadb/i.test(version) ? `MariaDB ${version}` : `MySQL ${version}`;
    } catch (error) {
      throw new UnreachableError(
        `cannot reach MySQL/MariaDB at ${this.spec.host}:${this.spec.port}: ${errorMessage(error)}`,
        { cause: error },
      );
    }
  }

  identity(): Promise<string> {
    return mysqlIdentity(this.admin);
  }

  async missingPrivileges(): Promise<string[]> {
    // Global privileges of the account we logged in as; GRANT OPTION shows as IS_GRANTABLE.
    const [rows] = await this.admin.raw(
      "select privilege_type as p, is_grantable as g from information_schema.user_privileges where grantee = concat(quote(substring_index(current_user(), '@', 1)), '@', quote(substring_index(current_user(), '@', -1)))",
    );
    const held = new Set((rows as Array<{ p: string }>).map((r) => r.p));
    const grantable = (rows as Array<{ g: string }>).some((r) => r.g === 'YES');
    const needed = ['CREATE', 'DROP', 'CREATE USER'];
    return [...needed.filter((p) => !held.has(p)), ...(grantable ? [] : ['GRANT OPTION'])];
  }

  async databaseSizes(databases: string[]): Promise<Map<string, number>> {
    if (databases.length === 0) return new Map();
    const [rows] = await this.admin.raw(
      `select table_schema as db, coalesce(sum(data_length + index_length), 0) as bytes from information_schema.tables where table_schema in (${databases.map(() => '?').join(',')}) group by table_schema`,
      databases,
    );
    const sizes = new Map<string, number>(
      (rows as Array<{ db: string; bytes: string }>).map((r) => [r.db, Number(r.bytes)]),
    );
    // A database without tables has no rows in information_schema.tables: size 0 if it exists.
    const [schemata] = await this.admin.raw(
      `select schema_name as db from information_schema.schemata where schema_name in (${databases.map(() => '?').join(',')})`,
      databases,
    );
    for (const { db } of schemata as Array<{ db: string }>) if (!sizes.has(db)) sizes.set(db, 0);
    return sizes;
  }

  async databaseExists(name: string): Promise<boolean> {
    const [rows] = await this.admin.raw('select schema_name from information_schema.schemata where schema_name = ?', [
      name,
    ]);
    return rows.length > 0;
  }

  async createDatabase(name: string): Promise<void> {
    await this.admin.raw(`create database ${quote(name)} character set utf8mb4 collate utf8mb4_unicode_ci`);
  }

  async dropDatabase(name: string): Promise<void> {
    // A DROP waits behind open transactions' metadata locks: end the tenant's sessions first.
    const [rows] = await this.admin.raw(
      'select id from information_schema.processlist where db = ? and id <> connection_id()',
      [name],
    );
    for (const row of rows as Array<{ id: number }>) {
      await this.admin.raw(`kill ${Number(row.id)}`).catch(() => undefined); // it may have ended already
    }
    await this.admin.raw(`drop database if exists ${quote(name)}`);
  }

  async userExists(name: string): Promise<boolean> {
    const [rows] = await this.admin.raw('select 1 from mysql.user where user = ? and host = ?', [name, this.host]);
    return rows.length > 0;
  }

  /** MariaDB or MySQL, asked once: they take a password's hash in different clauses. */
  private flavour?: Promise<'mariadb' | 'mysql'>;

  /**
   * The clause that sets `password` by its hash, computed here: the plaintext never reaches the
   * server, whose general query log (and binary log) would keep the statement. MariaDB:
   * mysql_native_password's `*…`, its default; MySQL 8: caching_sha2_password's `$A$005$…`, its default.
   */
  private async identifiedBy(password: string): Promise<{ clause: string; hash: string }> {
    this.flavour ??= this.admin.raw('select version() as version').then(
      ([rows]) => (/mariadb/i.test(String(rows[0].version)) ? 'mariadb' : 'mysql'),
      (error: unknown) => {
        this.flavour = undefined;
        throw error;
      },
    );
    return (await this.flavour) === 'mariadb'
      ? { clause: 'identified by password ?', hash: nativePasswordHash(password) }
      : { clause: 'identified with caching_sha2_password as ?', hash: cachingSha2PasswordHash(password) };
  }

  async createUser(name: string, password: string, database: string): Promise<void> {
    const { clause, hash } = await this.identifiedBy(password);
    try {
      await this.admin.raw(`create user ?@? ${clause}`, [name, this.host, hash]);
    } catch (error) {
      // knex puts the bound values into its error text: take the hash (and the password) out again.
      throw new TenantctlError(redact(errorMessage(error), [hash, password]));
    }
    await this.grantDatabase(name, database);
  }

  async grantDatabase(user: string, database: string): Promise<void> {
    await this.admin.raw(`grant all privileges on ${grantPattern(database)}.* to ?@?`, [user, this.host]);
  }

  async dropUser(name: string): Promise<void> {
    await this.admin.raw('drop user if exists ?@?', [name, this.host]);
  }

  async setPassword(user: string, password: string, options: { endSessions?: boolean } = {}): Promise<void> {
    const { clause, hash } = await this.identifiedBy(password);
    try {
      await this.admin.raw(`alter user ?@? ${clause}`, [user, this.host, hash]);
    } catch (error) {
      throw new Error(redact(errorMessage(error), [hash, password]));
    }
    if (options.endSessions) await this.endSessions(user);
  }

  private async endSessions(user: string): Promise<void> {
    const [rows] = await this.admin.raw(
      'select id from information_schema.processlist where user = ? and id <> connection_id()',
      [user],
    );
    for (const row of rows as Array<{ id: number }>) {
      await this.admin.raw(`kill ${Number(row.id)}`).catch(() => undefined); // it may have ended already
    }
  }

  async suspendAccess(_database: string, user: string | null): Promise<boolean> {
    if (!user) return false;
    await this.admin.raw('alter user ?@? account lock', [user, this.host]);
    await this.endSessions(user);
    return true;
  }

  async resumeAccess(_database: string, user: string | null): Promise<void> {
    if (user) await this.admin.raw('alter user ?@? account unlock', [user, this.host]);
  }

  async accessSuspended(_database: string, user: string | null): Promise<boolean> {
    if (!user || !(await this.userExists(user))) return false;
    // SHOW CREATE USER says ACCOUNT LOCK on both MySQL and MariaDB, whose catalogs differ.
    const [rows] = await this.admin.raw('show create user ?@?', [user, this.host]);
    return /ACCOUNT LOCK/i.test(String(Object.values(rows[0] as object)[0]));
  }

  async enabledJobs(database: string): Promise<string[]> {
    const [rows] = await this.admin.raw(
      "select event_name as name from information_schema.events where event_schema = ? and status = 'ENABLED' order by 1",
      [database],
    );
    return (rows as Array<{ name: string }>).map((r) => r.name);
  }

  async setJobsEnabled(database: string, names: string[], enabled: boolean): Promise<void> {
    if (names.length === 0) return;
    const [rows] = await this.admin.raw(
      `select event_name as name, definer from information_schema.events where event_schema = ? and event_name in (${names.map(() => '?').join(',')})`,
      [database, ...names],
    );
    for (const { name, definer } of rows as Array<{ name: string; definer: string }>) {
      // ALTER EVENT makes whoever runs it the event's definer unless told otherwise: the admin's
      // rights for the tenant's code. DEFINER keeps the one it had ('user@host', split at the last @).
      const at = definer.lastIndexOf('@');
      await this.admin.raw(
        `alter definer = ?@? event ${quote(database)}.${quote(name)} ${enabled ? 'enable' : 'disable'}`,
        [definer.slice(0, at), definer.slice(at + 1)],
      );
    }
  }

  async readAppliedMigrations(databases: string[], table: string): Promise<AppliedMigrations> {
    // One server sees every database: a batch of tenants costs two queries, not two per tenant.
    const applied: AppliedMigrations = new Map(databases.map((db) => [db, null]));
    for (let start = 0; start < databases.length; start += BATCH) {
      const batch = databases.slice(start, start + BATCH);
      const [present] = await this.admin.raw(
        `select table_schema as db from information_schema.tables where table_name = ? and table_schema in (${batch.map(() => '?').join(',')})`,
        [table, ...batch],
      );
      const withTable = (present as Array<{ db: string }>).map((row) => row.db);
      if (withTable.length === 0) continue;
      for (const db of withTable) applied.set(db, []);
      const union = withTable
        .map((db) => `select ? as db, id, name from ${quote(db)}.${quote(table)}`)
        .join(' union all ');
      const [rows] = await this.admin.raw(`${union} order by db, id`, withTable);
      for (const row of rows as Array<{ db: string; name: string }>) applied.get(row.db)!.push(row.name);
    }
    return applied;
  }

  dump(database: string, output: Writable, tools: DumpTools): Promise<void> {
    return mysqlDumpTo(this.spec, database, output, tools, this.toolControl(true));
  }

  checkDump(file: string): Promise<void> {
    return mysqlCheckDump(file);
  }

  restore(database: string, file: string, _owner: string | null, tools: DumpTools): Promise<void> {
    return mysqlRestoreFrom(this.spec, database, file, tools, this.toolControl(false));
  }

  async listTables(database: string): Promise<string[]> {
    const [rows] = await this.admin.raw(
      "select table_name as name from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE' order by 1",
      [database],
    );
    return (rows as Array<{ name: string }>).map((row) => row.name);
  }

  async rowCounts(database: string): Promise<Record<string, number>> {
    const tables = await this.listTables(database);
    if (tables.length === 0) return {};
    const union = tables
      .map((t) => `select ? as name, count(*) as n from ${quote(database)}.${quote(t)}`)
      .join(' union all ');
    const [rows] = await this.admin.raw(union, tables);
    return Object.fromEntries((rows as Array<{ name: string; n: number }>).map((row) => [row.name, Number(row.n)]));
  }

  contentFingerprint(database: string): Promise<ContentFingerprint> {
    return mysqlFingerprint(this.admin, database);
  }

  async databaseStats(databases: string[], options: DatabaseStatsOptions): Promise<Map<string, DatabaseStats>> {
    const stats = new Map<string, DatabaseStats>();
    if (databases.length === 0) return stats;
    const marks = databases.map(() => '?').join(',');
    // One server sees every database: tables, estimated rows and sizes in one query.
    const [schemata] = await this.admin.raw(
      `select schema_name as db from information_schema.schemata where schema_name in (${marks})`,
      databases,
    );
    const [tables] = await this.admin.raw(
      `select table_schema as db, count(*) as tables, coalesce(sum(table_rows), 0) as \`rows\`, coalesce(sum(data_length + index_length), 0) as bytes from information_schema.tables where table_type = 'BASE TABLE' and table_schema in (${marks}) group by table_schema`,
      databases,
    );
    const [sessions] = await this.admin.raw(
      `select db, count(*) as n from information_schema.processlist where db in (${marks}) group by db`,
      databases,
    );
    const applied = await this.readAppliedMigrations(databases, options.migrationsTable);
    const byDb = new Map(
      (tables as Array<{ db: string; tables: number; rows: number; bytes: number }>).map((r) => [r.db, r]),
    );
    const connections = new Map((sessions as Array<{ db: string; n: number }>).map((r) => [r.db, Number(r.n)]));
    for (const { db } of schemata as Array<{ db: string }>) {
      const t = byDb.get(db);
      stats.set(db, {
        sizeBytes: Number(t?.bytes ?? 0),
        tables: Number(t?.tables ?? 0),
        rows: Number(t?.rows ?? 0),
        rowsExact: false,
        connections: connections.get(db) ?? 0,
        applied: applied.get(db) ?? null,
      });
    }
    if (options.exact) {
      await runPool([...stats.keys()], options.concurrency, async (db) => {
        stats.get(db)!.rows = Object.values(await this.rowCounts(db)).reduce((a, b) => a + b, 0);
        stats.get(db)!.rowsExact = true;
      });
    }
    return stats;
  }

  async checkDumpTools(tools: DumpTools): Promise<string | undefined> {
    try {
      resolveTool(
        tools.mysqlDump ? [tools.mysqlDump] : ['mariadb-dump', 'mysqldump'],
        'mariadb-client or mysql-client',
      );
      resolveTool(tools.mysqlClient ? [tools.mysqlClient] : ['mariadb', 'mysql'], 'mariadb-client or mysql-client');
      return undefined;
    } catch (error) {
      return errorMessage(error);
    }
  }

  async listDatabases(): Promise<string[]> {
    const [rows] = await this.admin.raw('select schema_name as name from information_schema.schemata order by 1');
    return (rows as Array<{ name: string }>).map((r) => r.name);
  }

  async listUsers(): Promise<string[]> {
    const [rows] = await this.admin.raw('select user as name from mysql.user where host = ? order by 1', [this.host]);
    return (rows as Array<{ name: string }>).map((r) => r.name);
  }

  tenantKnexConfig({ database, lockTimeoutMs }: TenantConnectionOptions): Knex.Config {
    return {
      client: 'mysql2',
      log: QUIET_KNEX_LOG,
      connection: connection(this.spec, database),
      pool: pool(this.spec, 1, 'migrations', lockTimeoutSettings(lockTimeoutMs)),
    };
  }

  tenantUserKnexConfig(database: string, user: string, password: string): Knex.Config {
    return {
      client: 'mysql2',
      log: QUIET_KNEX_LOG,
      connection: connection(this.spec, database, user, password),
      pool: pool(this.spec, 1),
    };
  }

  async close(): Promise<void> {
    this.watcher.stop();
    await Promise.all([this.adminKnex.destroy(), this.heartbeat?.destroy()]);
  }
}

/**
 * Both lock waits of a session: DDL waits on metadata locks (`lock_wait_timeout`), DML on row
 * locks (`innodb_lock_wait_timeout`). Both count whole seconds, at least 1.
 */
function lockTimeoutSettings(lockTimeoutMs: number | undefined): string[] {
  if (lockTimeoutMs === undefined) return [];
  const seconds = Math.max(1, Math.ceil(lockTimeoutMs / 1000));
  return [`SET SESSION lock_wait_timeout = ${seconds}, SESSION innodb_lock_wait_timeout = ${seconds}`];
}

interface RawMysqlConnection {
  query(sql: string, callback: (error: Error | null) => void): void;
}
