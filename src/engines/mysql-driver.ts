import { mysqlStructure, mysqlStructureDigest } from './mysql-structure.js';
import type { SchemaStructure } from './schema-structure.js';
import knexFactory, { type Knex } from 'knex';
import { InternalError, TamperedTableError, TenantctlError, UnreachableError, errorMessage } from '../core/errors.js';
import { generatePassword, redact } from '../core/secrets.js';
import type { Writable } from 'node:stream';
import {
  dumpNamedDatabase,
  restoreNamedDatabase,
  type AppliedMigrations,
  type DatabaseStats,
  type DatabaseStatsOptions,
  type DumpTools,
  type MigrationTable,
  type EngineDriver,
  type LentLogin,
  type OnlineMoves,
  type ScheduledJobs,
  type SchemaTemplates,
  type ServerConnection,
  type ServerUsers,
  type TenantConnectionOptions,
  type TenantCredentials,
  type TenantLogin,
  type QueryRows,
  type ReadOnlyQueryOptions,
} from './engine-driver.js';
import { withLoginSession } from './tenant-session.js';
import { bracketedCounts, type RecordedRowCounts } from './row-counts.js';
import { MysqlTemplates } from './mysql-template.js';
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
import type { TLSSocket } from 'node:tls';
import { identityError, isAddress, nodeTlsOptions } from './tls-settings.js';
import {
  guardConnection,
  KEEPALIVE_DELAY_MS,
  withAnswerDeadline,
  type RawConnectionParts,
} from './connection-guard.js';
import { ServerWatch } from './server-watch.js';
import { socketDeadlines, statementLimit, type ConnectionUse } from './socket-deadlines.js';
import { mysqlReadOnlyQuery } from './mysql-query.js';
import type { ServerSpec } from './server-spec.js';
import { QUIET_KNEX_LOG } from './knex-log.js';
import { mysqlAutoIncrements, mysqlFingerprint, mysqlTables } from './mysql-fingerprint.js';
import { cachingSha2PasswordHash, nativePasswordHash } from './mysql-password.js';
import { MARK_DATABASE, mysqlIdentity } from './mysql-identity.js';
import {
  countedFingerprint,
  splitKnownCounts,
  type ContentFingerprint,
  type FingerprintDepth,
} from './content-fingerprint.js';
import { runPool } from '../core/run-pool.js';
import { MARK_PATTERN, MARK_TABLE, OWNER_PREFIX, markIn } from './ownership-mark.js';
import { onRawConnection } from './raw-connection.js';
import { tableTotals } from './mysql-table-totals.js';
import { MysqlReplication } from './mysql-replication.js';

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

/** A query on one held connection: HANDLER names live in a session. */
type OnConnection = (sql: string, bindings?: unknown[]) => Promise<unknown[]>;

/** Runs `fn` with queries that all go to one connection of `knex`'s pool. */
async function onOneConnection<T>(knex: Knex, fn: (query: OnConnection) => Promise<T>): Promise<T> {
  const client = knex.client as { acquireConnection(): Promise<unknown>; releaseConnection(c: unknown): Promise<void> };
  const connection = await client.acquireConnection();
  try {
    return await fn(async (sql, bindings = []) => {
      const [rows] = await knex.raw(sql, bindings as Knex.RawBinding[]).connection(connection);
      return rows as unknown[];
    });
  } finally {
    await client.releaseConnection(connection);
  }
}

/**
 * A migration table's applied names, read with HANDLER: it reads a base table's rows straight from
 * the storage engine, refuses a view (or a sequence) in the same statement that opens it, and
 * runs nothing the tenant defined (no view, function or trigger), so the admin may read it.
 * `target` is the table, quoted (and qualified with its database where the session is elsewhere).
 */
async function readWithHandler(
  query: OnConnection,
  target: string,
  table: string,
  database: string,
): Promise<string[] | null> {
  try {
    await query(`handler ${target} open as tenantctl_migrations`);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ER_NO_SUCH_TABLE' || code === 'ER_BAD_DB_ERROR') return null;
    if (code === 'ER_WRONG_OBJECT') throw new TamperedTableError(table, database, 'a view');
    if (code === 'ER_ILLEGAL_HA') throw new TamperedTableError(table, database, 'not a plain table');
    throw error;
  }
  try {
    const rows = (await query('handler tenantctl_migrations read first limit 1000000')) as Array<{
      id: number;
      name: string;
    }>;
    return rows.sort((a, b) => Number(a.id) - Number(b.id)).map((row) => String(row.name));
  } catch (error) {
    // A storage engine that cannot be read so (a sequence) is no plain table either.
    if ((error as { code?: string }).code === 'ER_ILLEGAL_HA')
      throw new TamperedTableError(table, database, 'not a plain table');
    throw error;
  } finally {
    await query('handler tenantctl_migrations close').catch(() => undefined);
  }
}

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
    ...(spec.tls ? { ssl: mysqlSsl(spec) } : {}),
    enableKeepAlive: true,
    keepAliveInitialDelay: KEEPALIVE_DELAY_MS,
    // mysql2 sizes each connection's prepared-statement cache up front (16000 slots, half a
    // megabyte filled per connection): knex never prepares, and a fleet run opens a connection
    // per tenant, so the default cost a second of garbage collection per thousand tenants.
    maxPreparedStatements: PREPARED_STATEMENTS,
  };
}

/** Slots of mysql2's per-connection prepared-statement cache (see connection). */
const PREPARED_STATEMENTS = 8;

/**
 * mysql2's `ssl` option for the spec's TLS settings. mysql2 checks the certificate's names only
 * for a host name (it sends no SNI for an address and then checks nothing): verify-full to an IP
 * address is checked after the handshake instead (see certificateNamesHost).
 */
function mysqlSsl(spec: ServerSpec): Knex.MySql2ConnectionConfig['ssl'] {
  const options = nodeTlsOptions(spec.tls);
  if (!options) return undefined;
  const { verifyIdentity, ...rest } = options;
  return { ...rest, verifyIdentity: verifyIdentity && !isAddress(spec.host) } as Knex.MySql2ConnectionConfig['ssl'];
}

/**
 * verify-full to an IP address: the certificate the server gave must name that address (its IP
 * SANs), or the connection fails as Node's own check would fail it (ERR_TLS_CERT_ALTNAME_INVALID).
 */
function certificateNamesHost(spec: ServerSpec, conn: RawMysqlConnection): Error | undefined {
  if (spec.tls?.mode !== 'verify-full' || !isAddress(spec.host)) return undefined;
  const stream = (conn as { stream?: Partial<TLSSocket> }).stream;
  const certificate = stream?.getPeerCertificate?.();
  if (!certificate || Object.keys(certificate).length === 0)
    return Object.assign(new Error('the server presented no certificate'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  return identityError(spec.host!, certificate);
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
      const misnamed = certificateNamesHost(spec, conn);
      if (misnamed) return done(misnamed, conn);
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

/**
 * A read-only session's pool (TenantConnectionOptions.readOnly): made read only (`tx_read_only`,
 * what `SET SESSION TRANSACTION READ ONLY` sets) and bounded by `timeoutMs` in the statement that
 * opens it, so the operator's statement is the session's second and last; a connection where
 * either setting failed is never handed out. MariaDB names them in one statement; MySQL 8, which
 * knows neither name, is asked again with its own (milliseconds; SELECT only).
 */
function readOnlyPool(spec: ServerSpec, timeoutMs: number): Knex.PoolConfig {
  const deadlines = socketDeadlines(spec, 'tenantctl');
  const mariadb = `SET SESSION max_statement_time = ${Math.max(0.001, timeoutMs / 1000)}, SESSION tx_read_only = 1`;
  const mysql = `SET SESSION max_execution_time = ${Math.max(1, Math.round(timeoutMs))}, SESSION transaction_read_only = 1`;
  return {
    min: 0,
    max: 1,
    afterCreate: (conn: RawMysqlConnection, done: (error: Error | null, conn: unknown) => void) => {
      guardConnection(conn, MYSQL_PARTS, deadlines);
      const misnamed = certificateNamesHost(spec, conn);
      if (misnamed) return done(misnamed, conn);
      conn.query(mariadb, (error) => {
        if ((error as { errno?: number } | null)?.errno === ER_UNKNOWN_SYSTEM_VARIABLE)
          conn.query(mysql, (again) => done(again, conn));
        else done(error, conn);
      });
    },
  };
}

/** mysql2's codes for a statement the account lacks a privilege for. */
const PRIVILEGE_ERRORS = [
  'ER_TABLEACCESS_DENIED_ERROR',
  'ER_COLUMNACCESS_DENIED_ERROR',
  'ER_SPECIFIC_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_PROCACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_NO_PASSWORD_ERROR',
];

export const mysqlDriver: EngineDriver = {
  engine: 'mysql',
  embedded: false,
  accountHosts: true,
  suspendsWithoutUser: false,
  transactionalDdl: false,
  changedRows(rawResult) {
    // mysql2 answers [ResultSetHeader, fields] for a write, [rows, fields] for a read.
    const header = Array.isArray(rawResult) ? (rawResult[0] as { affectedRows?: unknown } | null) : undefined;
    return header && !Array.isArray(header) && typeof header.affectedRows === 'number'
      ? header.affectedRows
      : undefined;
  },
  backupExtension: 'sql.gz',
  crossDatabaseReads: true,
  supportsUsers: true,
  limits: { database: 64, user: 32 },
  isReservedName: (name) => RESERVED.has(name),
  dropIndexStatement(index, table) {
    return `drop index ${quote(index)} on ${quote(table)};`;
  },
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
  isPasswordRequired: (error) =>
    (error as { code?: string } | null)?.code === 'ER_ACCESS_DENIED_ERROR' &&
    /using password: NO/.test(errorMessage(error)),
  missingPrivilege: (error) => {
    if (!PRIVILEGE_ERRORS.includes(String((error as { code?: string } | null)?.code))) return undefined;
    const words = String((error as { sqlMessage?: string }).sqlMessage ?? errorMessage(error).split(' - ').at(-1));
    // "SELECT command denied to user 'a'@'h' for table `db`.`t`" → "SELECT on `db`.`t`"
    const command = /^(\w+) command denied to user .* for table (.+)$/.exec(words);
    if (command) return `${command[1]} on ${command[2]}`;
    // "Access denied; you need (at least one of) the PROCESS privilege(s) for this operation"
    const specific = /you need \(at least one of\) the (.+) privilege/.exec(words);
    return specific ? `the ${specific[1]} privilege` : words;
  },
  isTlsRefused: (error) => (error as { code?: string } | null)?.code === 'HANDSHAKE_NO_SSL_SUPPORT',
  isTlsRequired: () => false,
  // The server went away under the connection, is shutting down, or killed it.
  isSessionLost: (error) =>
    ['PROTOCOL_CONNECTION_LOST', 'ER_SERVER_SHUTDOWN', 'ER_CONNECTION_KILLED', 'ECONNRESET', 'EPIPE'].includes(
      String((error as { code?: string } | null)?.code),
    ) || /closed state|server has gone away/i.test(String((error as Error | null)?.message)),
  // Both a metadata lock (lock_wait_timeout) and a row lock (innodb_lock_wait_timeout) give 1205.
  isLockTimeoutError: (error) => (error as { code?: string } | null)?.code === 'ER_LOCK_WAIT_TIMEOUT',
  // ER_DBACCESS_DENIED_ERROR 1044, ER_TABLEACCESS_DENIED_ERROR 1142, ER_COLUMNACCESS_DENIED_ERROR 1143,
  // ER_SPECIFIC_ACCESS_DENIED_ERROR 1227, ER_PROCACCESS_DENIED_ERROR 1370, … (not 1045: a login refused).
  isPermissionDenied: (error) => {
    const { code, errno } = (error ?? {}) as { code?: string; errno?: number };
    return (
      [1044, 1142, 1143, 1227, 1370].includes(errno ?? 0) ||
      (/^ER_\w*ACCESS_DENIED\w*$/.test(code ?? '') && code !== 'ER_ACCESS_DENIED_ERROR')
    );
  },

  // The session was opened with multipleStatements (TenantConnectionOptions.script): one query holds the script.
  async runScript(knex, sql) {
    type Callback = (error: Error | null) => void;
    await onRawConnection<{ query(sql: string, callback: Callback): void }, void>(
      knex,
      (connection) =>
        new Promise<void>((resolve, reject) => connection.query(sql, (error) => (error ? reject(error) : resolve()))),
    );
  },

  // A migrations table's schema (migrations.schemaName) is PostgreSQL's: a MySQL database has none.
  readAppliedOn(knex, { name: table }, database) {
    return onOneConnection(knex, (query) => readWithHandler(query, quote(table), table, database));
  },

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

  restoreAt(spec, file, tools) {
    return restoreNamedDatabase(this, spec, file, tools);
  },

  connect(spec) {
    return new MysqlServer(spec);
  },
};

class MysqlServer implements ServerConnection, ServerUsers, ScheduledJobs {
  readonly users: ServerUsers = this;
  readonly scheduledJobs: ScheduledJobs = this;
  readonly onlineMoves: OnlineMoves;
  /** One UNION per batch reads every migration table: nothing to keep. */
  readonly migrationFingerprints = undefined;
  readonly driver = mysqlDriver;
  readonly templates: SchemaTemplates = new MysqlTemplates({
    suspendAccess: (database, user) => this.suspendAccess(database, user),
    createDatabase: (name) => this.createDatabase(name),
    dropDatabase: (name) => this.dropDatabase(name),
    dropUser: (name) => this.dropUser(name),
    session: (login, fn) => withLoginSession(this, login, fn, { schemaWork: true }),
  });
  /** A loan unlocks the tenant's own account: one at a time. */
  readonly lendsOwnAccount = true;
  private readonly watcher = new ServerWatch();
  private readonly adminKnex: Knex;
  private heartbeat: Knex | undefined;
  /** The connection HANDLER reads of many tenants go over (see handlerReads); opened when first needed. */
  private batchReader: Knex | undefined;

  constructor(private readonly spec: ServerSpec) {
    this.adminKnex = knexFactory(mysqlDriver.adminKnexConfig(spec));
    this.watcher.hold(this.adminKnex);
    const server = this;
    this.onlineMoves = new MysqlReplication(this, {
      spec,
      get userHost() {
        return server.host;
      },
      admin: () => this.admin,
      flavour: () => this.serverFlavour(),
      identifiedBy: (password) => this.identifiedBy(password),
      suspendAccess: (database, user) => this.suspendAccess(database, user),
      toolControl: (dump) => this.toolControl(dump),
    });
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
    const totals = await tableTotals(this.admin, databases);
    const sizes = new Map<string, number>([...totals].map(([db, t]) => [db, t.bytes]));
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

  private serverFlavour(): Promise<'mariadb' | 'mysql'> {
    this.flavour ??= this.admin.raw('select version() as version').then(
      ([rows]) => (/mariadb/i.test(String(rows[0].version)) ? 'mariadb' : 'mysql'),
      (error: unknown) => {
        this.flavour = undefined;
        throw error;
      },
    );
    return this.flavour;
  }

  /**
   * The clause that sets `password` by its hash, computed here: the plaintext never reaches the
   * server, whose general query log (and binary log) would keep the statement. MariaDB:
   * mysql_native_password's `*…`, its default; MySQL 8: caching_sha2_password's `$A$005$…`, its default.
   */
  private async identifiedBy(password: string): Promise<{ clause: string; hash: string }> {
    return (await this.serverFlavour()) === 'mariadb'
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

  /** MySQL and MariaDB check every password at login (no `trust`): the login decides. */
  async passwordMatches(): Promise<boolean | null> {
    return null;
  }

  /** MySQL objects have no owners: the grants on the database are all there is to give. */
  async giveObjects(user: string, database: string): Promise<void> {
    await this.grantDatabase(user, database);
  }

  async dropUser(name: string): Promise<void> {
    await this.admin.raw('drop user if exists ?@?', [name, this.host]);
  }

  async lendLogin(user: string): Promise<LentLogin> {
    // The account itself: a stand-in could not read the tenant's routines, and what it restored
    // or migrated would have the stand-in as definer. The application knows only its own password.
    const password = generatePassword();
    await this.alterLogin(user, password, 'account unlock');
    return { user, password };
  }

  async endLoan(user: string, _lent: LentLogin | null, password: string): Promise<void> {
    await this.alterLogin(user, password, 'account lock');
    await this.endSessions(user);
  }

  /** One ALTER USER that sets the password (its hash, as setPassword) and locks or unlocks the account. */
  private async alterLogin(user: string, password: string, access: 'account lock' | 'account unlock'): Promise<void> {
    const { clause, hash } = await this.identifiedBy(password);
    try {
      await this.admin.raw(`alter user ?@? ${clause} ${access}`, [user, this.host, hash]);
    } catch (error) {
      throw new TenantctlError(redact(errorMessage(error), [hash, password]));
    }
  }

  async setPassword(user: string, password: string, options: { endSessions?: boolean } = {}): Promise<void> {
    const { clause, hash } = await this.identifiedBy(password);
    try {
      await this.admin.raw(`alter user ?@? ${clause}`, [user, this.host, hash]);
    } catch (error) {
      throw new TenantctlError(redact(errorMessage(error), [hash, password]));
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
    if (!user) return false;
    // SHOW CREATE USER says ACCOUNT LOCK on both MySQL and MariaDB, whose catalogs differ; it is
    // asked before every session as a tenant, so one query: no such user is not locked either.
    try {
      const [rows] = await this.admin.raw('show create user ?@?', [user, this.host]);
      return /ACCOUNT LOCK/i.test(String(Object.values(rows[0] as object)[0]));
    } catch (error) {
      // "Can't find any matching row in the user table"
      if ((error as { code?: string }).code === 'ER_PASSWORD_NO_MATCH') return false;
      throw error;
    }
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

  async readAppliedMigrations(logins: TenantLogin[], { name: table }: MigrationTable): Promise<AppliedMigrations> {
    // One server sees every database: the catalog says which have the table, and HANDLER reads
    // each over an admin connection (it runs nothing of the tenant's), without logging in as
    // every tenant: a batch of tenants in one round trip.
    const databases = logins.map((l) => l.database);
    const applied: AppliedMigrations = new Map(databases.map((db) => [db, null]));
    for (let start = 0; start < databases.length; start += BATCH) {
      const batch = databases.slice(start, start + BATCH);
      const [rows] = await this.admin.raw(
        `select table_schema as db, table_type as type from information_schema.tables where table_name = ? and table_schema in (${batch.map(() => '?').join(',')})`,
        [table, ...batch],
      );
      const present: string[] = [];
      for (const { db, type } of rows as Array<{ db: string; type: string }>) {
        if (type === 'VIEW' || type === 'SEQUENCE')
          applied.set(db, new TamperedTableError(table, db, `a ${type.toLowerCase()}`));
        else present.push(db);
      }
      for (const [db, names] of await this.handlerReads(present, table)) applied.set(db, names);
    }
    return applied;
  }

  /**
   * HANDLER reads of many databases' migration tables in one round trip, on a connection of its
   * own that takes several statements at once (the admin pool's never does; every name in them is
   * quoted). Should one fail (the table was swapped for a view or dropped since the catalog said
   * otherwise), that batch is read again one database at a time, which names it.
   */
  private async handlerReads(
    databases: string[],
    table: string,
  ): Promise<Map<string, string[] | null | TamperedTableError>> {
    const read = new Map<string, string[] | null | TamperedTableError>();
    if (databases.length === 0) return read;
    this.watcher.assertAnswering();
    if (!this.batchReader) {
      this.batchReader = knexFactory({
        ...mysqlDriver.adminKnexConfig(this.spec),
        connection: { ...connection(this.spec, this.spec.database), multipleStatements: true },
        pool: pool(this.spec, 1),
      });
      this.watcher.hold(this.batchReader);
    }
    const statements = databases.map(
      (db, i) =>
        `handler ${quote(db)}.${quote(table)} open as tenantctl_m${i}; handler tenantctl_m${i} read first limit 1000000; handler tenantctl_m${i} close`,
    );
    try {
      const [results] = await this.batchReader.raw(statements.join('; '));
      databases.forEach((db, i) => {
        const rows = (results as unknown[][])[i * 3 + 1] as Array<{ id: number; name: string }>;
        read.set(
          db,
          [...rows].sort((a, b) => Number(a.id) - Number(b.id)).map((row) => String(row.name)),
        );
      });
      return read;
    } catch {
      // The connection may hold handlers the failed batch opened: start afresh, one at a time.
      await this.batchReader.destroy();
      this.batchReader = undefined;
    }
    await onOneConnection(this.admin, async (query) => {
      for (const db of databases) {
        try {
          read.set(db, await readWithHandler(query, `${quote(db)}.${quote(table)}`, table, db));
        } catch (error) {
          if (!(error instanceof TamperedTableError)) throw error;
          read.set(db, error);
        }
      }
    });
    return read;
  }

  async dump(login: TenantLogin, output: Writable, tools: DumpTools): Promise<void> {
    await withLoginSession(this, login, (_knex, credentials) =>
      mysqlDumpTo(this.spec, credentials, output, tools, this.toolControl(true)),
    );
  }

  /**
   * mysqldump reads a snapshot of its own (--single-transaction) that no other session can share,
   * so the counts bracket it: taken before and after the dump on one session as the tenant (the
   * same credentials mysqldump logs in with), a table whose count moved meanwhile is unknown. One
   * login per backup, not one per count.
   */
  async dumpCounted(login: TenantLogin, output: Writable, tools: DumpTools): Promise<RecordedRowCounts> {
    return withLoginSession(this, login, async (knex, credentials) => {
      const before = await this.rowCountsWith(knex, login.database);
      await mysqlDumpTo(this.spec, credentials, output, tools, this.toolControl(true));
      return bracketedCounts(before, await this.rowCountsWith(knex, login.database));
    });
  }

  checkDump(file: string): Promise<void> {
    return mysqlCheckDump(file);
  }

  async restore(login: TenantLogin, file: string, tools: DumpTools): Promise<void> {
    await withLoginSession(this, login, (_knex, credentials) =>
      mysqlRestoreFrom(this.spec, credentials, file, tools, this.toolControl(false)),
    );
  }

  async listTables(database: string): Promise<string[]> {
    const [rows] = await this.admin.raw(
      "select table_name as name from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE' and table_name <> ? order by 1",
      [database, MARK_TABLE],
    );
    return (rows as Array<{ name: string }>).map((row) => row.name);
  }

  /** Exact row count of every table, counted in one UNION on a session as the tenant. */
  async rowCounts(login: TenantLogin): Promise<Record<string, number>> {
    return withLoginSession(this, login, (knex) => this.rowCountsWith(knex, login.database));
  }

  /** `known`: tables whose count is given, listed with it rather than counted. */
  private async rowCountsWith(
    knex: Knex,
    database: string,
    known: Record<string, number> = {},
  ): Promise<Record<string, number>> {
    const { counted, given } = splitKnownCounts(await mysqlTables(knex, database), (t) => t, known);
    if (counted.length === 0) return Object.fromEntries(given);
    const union = counted
      .map((t) => `select ? as name, count(*) as n from ${quote(database)}.${quote(t)}`)
      .join(' union all ');
    const [rows] = await knex.raw(union, counted);
    return Object.fromEntries([
      ...given,
      ...(rows as Array<{ name: string; n: number }>).map((row) => [row.name, Number(row.n)]),
    ]);
  }

  contentFingerprint(
    login: TenantLogin,
    depth: FingerprintDepth = 'content',
    known?: Record<string, number>,
  ): Promise<ContentFingerprint> {
    return withLoginSession(this, login, async (knex) =>
      depth === 'rows'
        ? countedFingerprint(
            await this.rowCountsWith(knex, login.database, known),
            await mysqlAutoIncrements(knex, login.database),
          )
        : mysqlFingerprint(knex, login.database),
    );
  }

  readStructure(login: TenantLogin): Promise<SchemaStructure> {
    return withLoginSession(this, login, mysqlStructure);
  }

  structureDigest(login: TenantLogin): Promise<string> {
    return withLoginSession(this, login, mysqlStructureDigest);
  }

  readOnlyQuery(login: TenantLogin, sql: string, options: ReadOnlyQueryOptions): Promise<QueryRows> {
    return withLoginSession(this, login, (knex) => mysqlReadOnlyQuery(knex, sql, options), {
      readOnly: { timeoutMs: options.timeoutMs },
    });
  }

  async databaseStats(logins: TenantLogin[], options: DatabaseStatsOptions): Promise<Map<string, DatabaseStats>> {
    const databases = logins.map((l) => l.database);
    const stats = new Map<string, DatabaseStats>();
    if (databases.length === 0) return stats;
    const marks = databases.map(() => '?').join(',');
    // One server sees every database: tables, estimated rows and sizes in one query.
    const [schemata] = await this.admin.raw(
      `select schema_name as db from information_schema.schemata where schema_name in (${marks})`,
      databases,
    );
    // --tables reads every table's catalog entry, write times included, however many there are.
    const byDb = await tableTotals(this.admin, databases, { everyTable: options.tables });
    const [sessions] = await this.admin.raw(
      `select db, count(*) as n from information_schema.processlist where db in (${marks}) group by db`,
      databases,
    );
    const applied = await this.readAppliedMigrations(logins, options.migrationsTable);
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
        // The latest table update time (InnoDB keeps it in memory: a restart forgets it).
        lastActivity: t?.updated?.toISOString() ?? null,
      });
    }
    if (options.exact) {
      // Counting reads the tenant's tables: as the tenant, a few at a time.
      await runPool(
        logins.filter((l) => stats.has(l.database)),
        options.concurrency,
        async (login) => {
          const entry = stats.get(login.database)!;
          entry.rows = Object.values(await this.rowCounts(login)).reduce((a, b) => a + b, 0);
          entry.rowsExact = true;
        },
      );
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

  /** The mark is the comment of MARK_TABLE, an empty table that mysqldump carries with the tenant's. */
  async markDatabase(database: string, mark: string): Promise<void> {
    if ((await this.readMarks([database])).get(database) === mark) return;
    if (!MARK_PATTERN.test(mark)) throw new InternalError(`not a registry mark: ${mark}`);
    const table = `${quote(database)}.${quote(MARK_TABLE)}`;
    const comment = `'${OWNER_PREFIX}${mark}'`;
    await this.admin.raw(`create table if not exists ${table} (registry char(32) primary key) comment = ${comment}`);
    await this.admin.raw(`alter table ${table} comment = ${comment}`);
  }

  async unmarkDatabase(database: string): Promise<void> {
    await this.admin.raw(`drop table if exists ${quote(database)}.${quote(MARK_TABLE)}`);
  }

  async readMarks(databases: string[]): Promise<Map<string, string | null>> {
    const marks = new Map(databases.map((db): [string, string | null] => [db, null]));
    if (databases.length === 0) return marks;
    const [rows] = await this.admin.raw(
      `select table_schema as db, table_comment as comment from information_schema.tables where table_name = ? and table_schema in (${databases.map(() => '?').join(',')})`,
      [MARK_TABLE, ...databases],
    );
    for (const row of rows as Array<{ db: string; comment: string }>) marks.set(row.db, markIn(row.comment));
    return marks;
  }

  async listUsers(): Promise<string[]> {
    const [rows] = await this.admin.raw('select user as name from mysql.user where host = ? order by 1', [this.host]);
    return (rows as Array<{ name: string }>).map((r) => r.name);
  }

  tenantKnexConfig(
    { database, user, password }: TenantCredentials,
    { lockTimeoutMs, schemaWork, script, readOnly }: TenantConnectionOptions = {},
  ): Knex.Config {
    // Migrations and seeds run unbounded; tenantctl's own reads within statementTimeout.
    return {
      client: 'mysql2',
      log: QUIET_KNEX_LOG,
      connection: {
        ...(user ? connection(this.spec, database, user, password) : connection(this.spec, database)),
        ...(script ? { multipleStatements: true } : {}),
      },
      pool: readOnly
        ? readOnlyPool(this.spec, readOnly.timeoutMs)
        : pool(this.spec, 1, schemaWork ? 'migrations' : 'tenantctl', lockTimeoutSettings(lockTimeoutMs)),
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
    await Promise.all([this.adminKnex.destroy(), this.heartbeat?.destroy(), this.batchReader?.destroy()]);
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
