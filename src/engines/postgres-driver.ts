import { postgresStructure, postgresStructureDigest } from './postgres-structure.js';
import type { SchemaStructure } from './schema-structure.js';
import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { TamperedTableError, TenantctlError, UnreachableError, errorMessage } from '../core/errors.js';
import { generatePassword, redact } from '../core/secrets.js';
import { runPool } from '../core/run-pool.js';
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
  type MigrationFingerprints,
  type ServerConnection,
  type ServerUsers,
  type TenantConnectionOptions,
  type TenantCredentials,
  type TenantLogin,
  type OnlineMoves,
  type SchemaTemplates,
  type QueryRows,
  type ReadOnlyQueryOptions,
} from './engine-driver.js';
import { withLoginSession } from './tenant-session.js';
import { checkedPgDump, pgCheckDump, pgDumpTo, pgRestoreFrom } from './postgres-dump.js';
import { resolveTool, type ToolControl } from './run-tool.js';
import {
  appliedFromStamp,
  clearOwnerMark,
  dropStamp,
  installStamp,
  readOwnerMarks,
  readStamps,
  writeOwnerMark,
} from './postgres-stamp.js';
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
import { verifierMatches, scramSha256Verifier } from './postgres-scram.js';
import type { ServerSpec } from './server-spec.js';
import { QUIET_KNEX_LOG } from './knex-log.js';
import { onRawConnection } from './raw-connection.js';
import { nodeTlsOptions } from './tls-settings.js';
import { postgresFingerprint, postgresSequences, postgresTables } from './postgres-fingerprint.js';
import { postgresReadOnlyQuery } from './postgres-query.js';
import {
  countedFingerprint,
  splitKnownCounts,
  type ContentFingerprint,
  type FingerprintDepth,
} from './content-fingerprint.js';
import { createWriteStream } from 'node:fs';
import { PostgresReplication } from './postgres-replication.js';
import { PostgresTemplates } from './postgres-template.js';

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** A migrations table as SQL names it: in its schema (knexfile migrations.schemaName) where it has one. */
const qualified = (table: MigrationTable, fallback?: string) => {
  const schema = table.schema ?? fallback;
  return schema ? `${quote(schema)}.${quote(table.name)}` : quote(table.name);
};
/** A migrations table as messages name it. */
const shown = (table: MigrationTable) => (table.schema ? `${table.schema}.${table.name}` : table.name);

const RESERVED = new Set(['postgres', 'template0', 'template1', 'public']);

/** The names of the stand-in roles loans log in as (see lendLogin). */
const STAND_IN_PREFIX = 'tenantctl_login_';

/**
 * The server admin's sessions resolve names in the system catalog only: a table, function or
 * operator a tenant made (in its own database, or in a schema of the maintenance database)
 * never stands in for the catalog's. What they query is schema-qualified besides.
 */
const ADMIN_SEARCH_PATH = '-c search_path=pg_catalog,pg_temp';

function connection(
  spec: ServerSpec,
  database: string,
  user = spec.user,
  password = spec.password,
  use: ConnectionUse = 'tenantctl',
): Knex.PgConnectionConfig {
  const limit = statementLimit(spec, use);
  return {
    host: spec.host,
    port: spec.port,
    user,
    password,
    database,
    connectionTimeoutMillis: spec.connectTimeoutMs,
    ...(spec.tls ? { ssl: pgSsl(spec) } : {}),
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    ...(limit ? { statement_timeout: limit } : {}),
  };
}

/** The server's own message, without the statement knex puts before it. */
const serverWords = (error: unknown) => errorMessage(error).split(' - ').at(-1)!;

/**
 * node-pg's `ssl` option for the spec's TLS settings. pg hands it to tls.connect with the host,
 * so verify-full checks the certificate against a host name or an IP address alike; verify-ca
 * (and require with a CA) checks only the chain.
 */
function pgSsl(spec: ServerSpec): Knex.PgConnectionConfig['ssl'] {
  const options = nodeTlsOptions(spec.tls);
  if (!options) return false;
  const { verifyIdentity, ...rest } = options;
  return verifyIdentity ? rest : { ...rest, checkServerIdentity: () => undefined };
}

/** A pg Client's socket and state, as the connection guard needs them. */
const PG_PARTS: RawConnectionParts = {
  socket: (client) => (client as { connection?: { stream?: Socket } }).connection?.stream,
  busy: (client) => (client as { readyForQuery?: boolean }).readyForQuery === false,
};

/** The pool options every pg connection gets: its answer and close deadlines (see connection-guard). */
function pool(spec: ServerSpec, max: number, use: ConnectionUse = 'tenantctl'): Knex.PoolConfig {
  const deadlines = socketDeadlines(spec, use);
  return {
    min: 0,
    max,
    afterCreate: (client: unknown, done: (error: Error | null, client: unknown) => void) => {
      guardConnection(client, PG_PARTS, deadlines);
      done(null, client);
    },
  };
}

/**
 * A migration table's applied names, read so that nothing a tenant defined can run, whoever the
 * session is: the relation `target` names is locked first (so nothing can take its place until
 * the read), then it must be a plain table (relkind `r`: not a view, not a function-backed or
 * foreign relation), then only its own rows are read (ONLY: no child tables). The rows of a
 * plain table come out through built-in output functions only (a type's I/O functions are C,
 * which only a superuser can install), and RLS does not apply to the owner or a superuser.
 */
async function readMigrationTable(
  knex: Knex,
  target: string,
  table: string,
  database: string,
): Promise<string[] | null> {
  try {
    return await knex.transaction(async (trx) => {
      await trx.raw(`lock table only ${target} in access share mode`);
      const found = await trx.raw(
        'select n.nspname as schema, c.relname as name, c.relkind as kind from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = pg_catalog.to_regclass(?)',
        [target],
      );
      const rel = found.rows[0] as { schema: string; name: string; kind: string } | undefined;
      if (!rel) return null;
      if (rel.kind !== 'r')
        throw new TamperedTableError(table, database, RELKINDS[rel.kind] ?? `a "${rel.kind}" relation`);
      const rows = await trx.raw(`select name from only ${quote(rel.schema)}.${quote(rel.name)} order by id`);
      return (rows.rows as Array<{ name: string }>).map((row) => row.name);
    });
  } catch (error) {
    if (postgresDriver.isMissingTableError(error)) return null;
    // LOCK TABLE refuses what is no table or view (a sequence, a type).
    if ((error as { code?: string }).code === '42809') throw new TamperedTableError(table, database, 'not a table');
    throw error;
  }
}

/** What a relkind is, in words, for a migration table that is not a plain table. */
const RELKINDS: Record<string, string> = {
  v: 'a view',
  m: 'a materialized view',
  f: 'a foreign table',
  p: 'a partitioned table',
  S: 'a sequence',
  c: 'a composite type',
};

export const postgresDriver: EngineDriver = {
  engine: 'postgres',
  embedded: false,
  accountHosts: false,
  suspendsWithoutUser: false,
  transactionalDdl: true,
  changedRows(rawResult) {
    const count = (rawResult as { rowCount?: unknown } | null)?.rowCount;
    const command = (rawResult as { command?: unknown } | null)?.command;
    return typeof count === 'number' && command !== 'SELECT' ? count : undefined;
  },
  backupExtension: 'pgdump',
  crossDatabaseReads: false,
  supportsUsers: true,
  limits: { database: 63, user: 63 },
  // Role and schema names starting with pg_ are reserved to the system (CREATE ROLE refuses them).
  isReservedName: (name) => RESERVED.has(name) || name.startsWith('pg_'),
  dropIndexStatement(index) {
    return `drop index ${quote(index)};`;
  },
  quoteIdentifier: quote,
  isMissingTableError: (error) => (error as { code?: string } | null)?.code === '42P01',
  isUniqueViolation: (error) => (error as { code?: string } | null)?.code === '23505',
  // undefined_object (a role), invalid_catalog_name (a database).
  isGoneError: (error) => ['42704', '3D000'].includes(String((error as { code?: string } | null)?.code)),
  // Invalid password, invalid authorization, unknown database.
  isLoginError: (error) => ['28P01', '28000', '3D000'].includes(String((error as { code?: string } | null)?.code)),
  // node-postgres refuses to start SCRAM (or send a password) without one; a server answering 28P01 asked for it.
  isPasswordRequired: (error) =>
    /client password must be a string/.test(errorMessage(error)) ||
    String((error as { code?: string } | null)?.code) === '28P01',
  // insufficient_privilege: "permission denied for table x", "must be member of role y".
  missingPrivilege: (error) =>
    String((error as { code?: string } | null)?.code) === '42501' ? serverWords(error) : undefined,
  isTlsRefused: (error) => /server does not support SSL/i.test(errorMessage(error)),
  isTlsRequired: (error) =>
    String((error as { code?: string } | null)?.code) === '28000' && /no encryption/.test(errorMessage(error)),
  // admin_shutdown, crash_shutdown, cannot_connect_now (starting up, shutting down), and class 08
  // (connection exceptions); pg's own errors for a socket that closed carry no code.
  isSessionLost: (error) => {
    const code = String((error as { code?: string } | null)?.code ?? '');
    return (
      ['57P01', '57P02', '57P03'].includes(code) ||
      code.startsWith('08') ||
      /Connection terminated|connection error and is not queryable/i.test(String((error as Error | null)?.message))
    );
  },
  // lock_not_available: lock_timeout ran out.
  isLockTimeoutError: (error) => (error as { code?: string } | null)?.code === '55P03',
  isPermissionDenied: (error) => (error as { code?: string } | null)?.code === '42501',

  // pg's simple query protocol runs a whole script, several statements, in one query.
  async runScript(knex, sql) {
    await onRawConnection<{ query(sql: string): Promise<unknown> }, unknown>(knex, (client) => client.query(sql));
  },

  readAppliedOn(knex, table, database) {
    return readMigrationTable(knex, qualified(table), shown(table), database);
  },

  refusedPassword: (password) =>
    /[\r\n]/.test(password)
      ? 'the password holds a line break, which pg_dump and pg_restore cannot be given (their password file holds one entry per line): choose one without'
      : undefined,

  adminKnexConfig(spec) {
    return {
      client: 'pg',
      log: QUIET_KNEX_LOG,
      connection: connection(spec, spec.database ?? 'postgres'),
      pool: pool(spec, 2),
    };
  },

  lockKnexConfig(spec) {
    return {
      client: 'pg',
      log: QUIET_KNEX_LOG,
      connection: connection(spec, spec.database ?? 'postgres', undefined, undefined, 'locks'),
      pool: { ...pool(spec, LOCK_POOL_MAX, 'locks'), idleTimeoutMillis: LOCK_IDLE_MS },
    };
  },

  tryLock(knex, name, waitMs) {
    const key = lockKey64(name);
    return lockOnDedicatedConnection(
      knex,
      async (conn) => {
        if (waitMs <= 0) {
          const result = await knex.raw('select pg_try_advisory_lock(?::bigint) as ok', [key]).connection(conn);
          return result.rows[0].ok === true;
        }
        // Queued in the server, first come first served, for at most waitMs (lock_timeout).
        const ms = String(Math.max(1, Math.round(waitMs)));
        await knex.raw("select set_config('lock_timeout', ?, false)", [ms]).connection(conn);
        try {
          await withAnswerDeadline(conn, waitMs + LOCK_ANSWER_MARGIN_MS, () =>
            knex.raw('select pg_advisory_lock(?::bigint)', [key]).connection(conn),
          );
          return true;
        } catch (error) {
          if ((error as { code?: string }).code === '55P03') return false;
          throw error;
        } finally {
          await knex.raw('reset lock_timeout').connection(conn);
        }
      },
      async (conn) => {
        await knex.raw('select pg_advisory_unlock(?::bigint)', [key]).connection(conn);
      },
    );
  },

  // Advisory locks are per database: anyone who may connect to the registry's could take them.
  sharedLockSpace: true,

  async registryExposure(knex) {
    const result = await knex.raw(
      "select current_database() as db, current_user as me, has_database_privilege('public', current_database(), 'connect') as open",
    );
    const { db, me, open } = result.rows[0] as { db: string; me: string; open: boolean };
    if (!open) return undefined;
    return `every role on the server may connect to the registry database "${db}" (CONNECT is granted to PUBLIC), tenants' roles included; as its owner or a superuser, run: GRANT CONNECT ON DATABASE ${quote(db)} TO ${quote(me)}; REVOKE CONNECT ON DATABASE ${quote(db)} FROM PUBLIC`;
  },

  async restrictRegistry(knex) {
    const db = (await knex.raw('select current_database() as db')).rows[0].db as string;
    // Granted first, so that the registry's own user never loses its way in. Without the right
    // to change them (not the owner), both only warn: nothing changes, doctor reports it.
    await knex.raw(`grant connect on database ${quote(db)} to current_user`);
    await knex.raw(`revoke connect on database ${quote(db)} from public`);
  },

  dumpAt(spec, output, tools) {
    return dumpNamedDatabase(this, spec, output, tools);
  },

  restoreAt(spec, file, tools) {
    return restoreNamedDatabase(this, spec, file, tools);
  },

  connect(spec) {
    return new PostgresServer(spec);
  },
};

class PostgresServer implements ServerConnection, ServerUsers, MigrationFingerprints {
  readonly users: ServerUsers = this;
  readonly migrationFingerprints: MigrationFingerprints = this;
  /** PostgreSQL schedules nothing itself; an extension's jobs (pg_cron) are out of tenantctl's view. */
  readonly scheduledJobs = undefined;
  readonly onlineMoves: OnlineMoves;
  readonly templates: SchemaTemplates;
  readonly driver = postgresDriver;
  /** Each loan is a stand-in role of its own: any number may be out at once. */
  readonly lendsOwnAccount = false;
  private readonly watcher = new ServerWatch();
  private readonly adminKnex: Knex;
  private heartbeat: Knex | undefined;

  constructor(private readonly spec: ServerSpec) {
    const config = postgresDriver.adminKnexConfig(spec);
    this.adminKnex = knexFactory({
      ...config,
      connection: { ...(config.connection as Knex.PgConnectionConfig), options: ADMIN_SEARCH_PATH },
    });
    this.watcher.hold(this.adminKnex);
    this.onlineMoves = new PostgresReplication(this, {
      spec,
      admin: () => this.admin,
      onDatabase: (database, fn) => this.onDatabase(database, fn),
      dumpSchema: (login, file, tools) => this.dumpSchema(login, file, tools),
    });
    this.templates = new PostgresTemplates({
      admin: () => this.admin,
      onDatabase: (database, fn) => this.onDatabase(database, fn),
      joinRole: (role) => this.joinRole(role),
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
      client: 'pg',
      log: QUIET_KNEX_LOG,
      connection: connection(this.spec, this.spec.database ?? 'postgres', undefined, undefined, 'heartbeat'),
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

  async ping(): Promise<string> {
    try {
      const result = await this.admin.raw('show server_version');
      return `PostgreSQL ${result.rows[0].server_version}`;
    } catch (error) {
      throw new UnreachableError(
        `cannot reach PostgreSQL at ${this.spec.host}:${this.spec.port}: ${errorMessage(error)}`,
        { cause: error },
      );
    }
  }

  async identity(): Promise<string> {
    // The system identifier is made by initdb and kept in pg_control: the cluster's data, not its
    // address. A physical standby shares it with its primary, so the port is part of it too. Any
    // role can read both (the data directory would need pg_read_all_settings: an admin with
    // CREATEDB and CREATEROLE may lack it).
    const result = await this.admin.raw(
      "select system_identifier::text as id, current_setting('port') as port from pg_control_system()",
    );
    const row = result.rows[0] as { id: string; port: string };
    return `postgres:${row.id}:${row.port}`;
  }

  async missingPrivileges(): Promise<string[]> {
    const result = await this.admin.raw(
      'select rolsuper, rolcreatedb, rolcreaterole from pg_catalog.pg_roles where rolname = current_user',
    );
    const role = result.rows[0] as { rolsuper: boolean; rolcreatedb: boolean; rolcreaterole: boolean } | undefined;
    if (!role || role.rolsuper) return [];
    return [...(role.rolcreatedb ? [] : ['CREATEDB']), ...(role.rolcreaterole ? [] : ['CREATEROLE'])];
  }

  async databaseSizes(databases: string[]): Promise<Map<string, number>> {
    if (databases.length === 0) return new Map();
    const result = await this.admin.raw(
      'select datname, pg_catalog.pg_database_size(datname) as bytes from pg_catalog.pg_database where datname = any(?)',
      [databases],
    );
    return new Map(result.rows.map((r: { datname: string; bytes: string }) => [r.datname, Number(r.bytes)]));
  }

  async databaseExists(name: string): Promise<boolean> {
    const result = await this.admin.raw('select 1 from pg_catalog.pg_database where datname = ?', [name]);
    return result.rows.length > 0;
  }

  async createDatabase(name: string): Promise<void> {
    await this.admin.raw(`create database ${quote(name)}`);
    // Only the owner (set when the user is created) may connect; PUBLIC may not.
    await this.admin.raw(`revoke connect, temporary on database ${quote(name)} from public`);
  }

  async dropDatabase(name: string): Promise<void> {
    // WITH (FORCE) ends the tenant's open sessions first (PostgreSQL 13+).
    await this.admin.raw(`drop database if exists ${quote(name)} with (force)`);
  }

  async userExists(name: string): Promise<boolean> {
    const result = await this.admin.raw('select 1 from pg_catalog.pg_roles where rolname = ?', [name]);
    return result.rows.length > 0;
  }

  async createUser(name: string, password: string, database: string): Promise<void> {
    // The verifier, not the password, goes over the wire: nothing to leak into the server log.
    const verifier = scramSha256Verifier(password);
    try {
      await this.admin.raw(`create role ${quote(name)} login password '${verifier}'`);
    } catch (error) {
      throw new TenantctlError(redact(errorMessage(error), [verifier, password]));
    }
    await this.grantDatabase(name, database);
  }

  async grantDatabase(user: string, database: string): Promise<void> {
    await this.joinRole(user);
    await this.admin.raw(`alter database ${quote(database)} owner to ${quote(user)}`);
    await this.admin.raw(`grant connect, temporary on database ${quote(database)} to ${quote(user)}`);
  }

  /**
   * Makes the admin a member of a role it made, unless it is one (a superuser always is). A
   * managed server's admin (RDS, Cloud SQL, Azure: CREATEDB and CREATEROLE, no superuser) must
   * be, to give a database to that role or to reassign what the role owns. Membership gives the
   * admin the role's rights, never the role the admin's.
   */
  private async joinRole(role: string): Promise<void> {
    const member = await this.admin.raw(`select pg_catalog.pg_has_role(current_user, ?, 'MEMBER') as member`, [role]);
    if (!(member.rows[0] as { member: boolean }).member) await this.admin.raw(`grant ${quote(role)} to current_user`);
  }

  async passwordMatches(user: string, password: string): Promise<boolean | null> {
    // pg_authid is readable by superusers only: any other admin leaves it to the login.
    const result = await this.admin
      .raw('select rolpassword from pg_catalog.pg_authid where rolname = ?', [user])
      .catch(() => undefined);
    const stored = (result?.rows[0] as { rolpassword: string | null } | undefined)?.rolpassword;
    if (result === undefined || stored === undefined) return null;
    if (stored === null) return false; // no password at all: the application cannot be logging in with one
    return verifierMatches(stored, user, password);
  }

  async giveObjects(user: string, database: string): Promise<void> {
    await this.grantDatabase(user, database);
    await this.onDatabase(database, async (knex) => {
      // Names come quoted from the catalog itself (quote_ident, regclass, regprocedure, regtype).
      const result = await knex.raw(ADOPTABLE_OBJECTS_SQL);
      for (const { kind, name } of result.rows as Array<{ kind: string; name: string }>)
        await knex.raw(`alter ${kind} ${name} owner to ${quote(user)}`);
    });
  }

  async dropUser(name: string): Promise<void> {
    await this.admin.raw(`drop role if exists ${quote(name)}`);
  }

  async setPassword(user: string, password: string, options: { endSessions?: boolean } = {}): Promise<void> {
    const verifier = scramSha256Verifier(password);
    try {
      await this.admin.raw(`alter role ${quote(user)} password '${verifier}'`);
    } catch (error) {
      throw new TenantctlError(redact(errorMessage(error), [verifier, password]));
    }
    if (options.endSessions) await this.endSessions(user);
  }

  async lendLogin(user: string, database: string): Promise<LentLogin> {
    await this.dropExpiredStandIns(user, database);
    // A member of the tenant's role and nothing else: the tenant's rights, no more. It can log in
    // for an hour (its sessions open at the start of the operation), at most 8 at once.
    const standIn = `${STAND_IN_PREFIX}${randomBytes(6).toString('hex')}`;
    const password = generatePassword();
    const verifier = scramSha256Verifier(password);
    const until = new Date(Date.now() + 3600_000).toISOString();
    try {
      await this.admin.raw(
        `create role ${quote(standIn)} login password '${verifier}' valid until '${until}' connection limit 8 in role ${quote(user)}`,
      );
    } catch (error) {
      throw new TenantctlError(redact(errorMessage(error), [verifier, password]));
    }
    return { user: standIn, password, role: user };
  }

  async endLoan(user: string, lent: LentLogin | null, _password: string, database: string): Promise<void> {
    if (lent) await this.dropStandIn(lent.user, user, database);
    else await this.dropExpiredStandIns(user, database);
  }

  /** Stand-ins of `user` whose validity ran out: what a killed tenantctl's loans left. */
  private async dropExpiredStandIns(user: string, database: string): Promise<void> {
    const result = await this.admin.raw(
      'select s.rolname from pg_catalog.pg_roles s join pg_catalog.pg_auth_members m on m.member = s.oid join pg_catalog.pg_roles t on t.oid = m.roleid where t.rolname = ? and s.rolname like ? and s.rolvaliduntil < pg_catalog.now()',
      [user, `${STAND_IN_PREFIX.replaceAll('_', '\\_')}%`],
    );
    for (const { rolname } of result.rows as Array<{ rolname: string }>)
      await this.dropStandIn(rolname, user, database);
  }

  /** Ends a stand-in's sessions, gives what it made to the tenant, and drops it. */
  private async dropStandIn(standIn: string, user: string, database: string): Promise<void> {
    await this.endSessions(standIn);
    // REASSIGN OWNED needs membership of both roles.
    await this.joinRole(standIn);
    await this.joinRole(user);
    await this.onDatabase(database, async (knex) => {
      await knex.raw(`reassign owned by ${quote(standIn)} to ${quote(user)}`);
      await knex.raw(`drop owned by ${quote(standIn)}`);
    }).catch((error: unknown) => {
      if ((error as { code?: string }).code !== '3D000') throw error; // the database is gone: nothing to give
    });
    await this.admin.raw(`drop role if exists ${quote(standIn)}`);
  }

  private async endSessions(user: string): Promise<void> {
    await this.admin.raw(
      'select pg_catalog.pg_terminate_backend(pid) from pg_catalog.pg_stat_activity where usename = ? and pid <> pg_catalog.pg_backend_pid()',
      [user],
    );
  }

  async suspendAccess(database: string, user: string | null): Promise<boolean> {
    if (!user) return false;
    await this.admin.raw(`alter role ${quote(user)} nologin`);
    // Every session of the tenant's user anywhere, and every other session in its database: other
    // roles', background workers'. The admin's own (tenantctl's: a backup under way) are spared.
    await this.admin.raw(
      'select pg_terminate_backend(pid) from pg_stat_activity where (usename = ? or (datname = ? and usename is distinct from current_user)) and pid <> pg_backend_pid()',
      [user, database],
    );
    return true;
  }

  async resumeAccess(_database: string, user: string | null): Promise<void> {
    if (user) await this.admin.raw(`alter role ${quote(user)} login`);
  }

  async accessSuspended(_database: string, user: string | null): Promise<boolean> {
    if (!user) return false;
    const result = await this.admin.raw('select rolcanlogin from pg_catalog.pg_roles where rolname = ?', [user]);
    return result.rows.length > 0 && result.rows[0].rolcanlogin === false;
  }

  async readAppliedMigrations(
    logins: TenantLogin[],
    table: MigrationTable,
    concurrency: number,
    available?: string[],
  ): Promise<AppliedMigrations> {
    const applied: AppliedMigrations = new Map();
    let toOpen = logins;
    if (available) {
      // The fingerprints in the catalog prove most tenants' migrations without opening them.
      const stamps = await readStamps(
        this.admin,
        logins.map((l) => l.database),
      );
      toOpen = [];
      for (const login of logins) {
        if (!stamps.has(login.database)) applied.set(login.database, null); // no such database
        const proven = appliedFromStamp(stamps.get(login.database) ?? null, available);
        if (proven) applied.set(login.database, proven);
        else if (stamps.has(login.database)) toOpen.push(login);
      }
    }
    // PostgreSQL cannot query across databases: one short connection each, as the tenant, a few at a time.
    await runPool(toOpen, concurrency, async (login) => {
      applied.set(login.database, await this.appliedAs(login, table));
    });
    return applied;
  }

  /**
   * One database's migration table read as `login`; null where it (or the database) does not exist.
   * A tenant without a user of its own (shared credentials) has it read by the admin, in `public`
   * where knex made it: readMigrationTable lets nothing of the tenant's run.
   */
  private async appliedAs(login: TenantLogin, table: MigrationTable): Promise<string[] | null | TamperedTableError> {
    try {
      if (login.user === null)
        return await this.onDatabase(login.database, (knex) =>
          readMigrationTable(knex, qualified(table, 'public'), shown(table), login.database),
        );
      return await withLoginSession(this, login, (knex) => postgresDriver.readAppliedOn(knex, table, login.database));
    } catch (error) {
      if (error instanceof TamperedTableError) return error;
      if ((error as { code?: string }).code === '3D000') return null; // no such database
      throw error;
    }
  }

  /** The version check of pg_dump against this server, done once per tool and run. */
  private readonly checkedTools = new Map<string, Promise<string>>();

  private checkedPgDump(tools: DumpTools): Promise<string> {
    let checked = this.checkedTools.get(tools.pgDump);
    if (!checked) {
      checked = checkedPgDump(tools, this.admin);
      this.checkedTools.set(tools.pgDump, checked);
      checked.catch(() => this.checkedTools.delete(tools.pgDump));
    }
    return checked;
  }

  async dump(login: TenantLogin, output: Writable, tools: DumpTools): Promise<void> {
    const pgDump = await this.checkedPgDump(tools);
    await withLoginSession(this, login, (_knex, credentials) =>
      pgDumpTo(this.spec, credentials, pgDump, tools.credentialDir, output, undefined, this.toolControl(true)),
    );
  }

  async dumpCounted(login: TenantLogin, output: Writable, tools: DumpTools): Promise<Record<string, number>> {
    const pgDump = await this.checkedPgDump(tools);
    // The counting session and pg_dump both log in as the tenant.
    return withLoginSession(this, login, (knex, credentials) =>
      knex.transaction(
        async (trx) => {
          // The snapshot stays importable while this transaction is open: until both are done.
          const exported = await trx.raw('select pg_export_snapshot() as id');
          const snapshot = (exported.rows[0] as { id: string }).id;
          const [counts, dumped] = await Promise.allSettled([
            this.rowCountsWith(trx),
            pgDumpTo(this.spec, credentials, pgDump, tools.credentialDir, output, snapshot, this.toolControl(true)),
          ]);
          if (dumped.status === 'rejected') throw dumped.reason;
          if (counts.status === 'rejected') throw counts.reason;
          return counts.value;
        },
        { isolationLevel: 'repeatable read', readOnly: true },
      ),
    );
  }

  checkDump(file: string, tools: DumpTools): Promise<void> {
    return pgCheckDump(file, tools);
  }

  /** A schema-only dump (no rows) of the login's database into `file`: an online move's first step. */
  async dumpSchema(login: TenantLogin, file: string, tools: DumpTools): Promise<void> {
    const pgDump = await this.checkedPgDump(tools);
    await withLoginSession(this, login, async (_knex, credentials) => {
      const output = createWriteStream(file, { mode: 0o600 });
      const closed = new Promise<void>((resolve, reject) => output.on('close', resolve).on('error', reject));
      try {
        await pgDumpTo(this.spec, credentials, pgDump, tools.credentialDir, output, undefined, this.toolControl(true), [
          '--schema-only',
        ]);
      } finally {
        output.end();
        await closed;
      }
    });
  }

  async restore(login: TenantLogin, file: string, tools: DumpTools): Promise<void> {
    // Extensions the database has already are the admin's (adminSetup): the archive's are skipped.
    const present = await this.onDatabase(login.database, async (knex) =>
      (await knex.raw('select extname from pg_catalog.pg_extension')).rows.map((r: { extname: string }) => r.extname),
    );
    await withLoginSession(this, login, (_knex, credentials) =>
      pgRestoreFrom(this.spec, credentials, file, tools, this.toolControl(false), present),
    );
  }

  async listTables(database: string): Promise<string[]> {
    return this.onDatabase(database, async (knex) => {
      const result = await knex.raw(
        "select table_schema || '.' || table_name as name from information_schema.tables where table_type = 'BASE TABLE' and table_schema not in ('pg_catalog', 'information_schema') order by 1",
      );
      return result.rows.map((row: { name: string }) => row.name);
    });
  }

  async rowCounts(login: TenantLogin): Promise<Record<string, number>> {
    return withLoginSession(this, login, (knex) => this.rowCountsWith(knex));
  }

  contentFingerprint(
    login: TenantLogin,
    depth: FingerprintDepth = 'content',
    known?: Record<string, number>,
  ): Promise<ContentFingerprint> {
    return withLoginSession(this, login, async (knex) =>
      depth === 'rows'
        ? countedFingerprint(await this.rowCountsWith(knex, known), await postgresSequences(knex))
        : postgresFingerprint(knex),
    );
  }

  /**
   * Exact row counts of every table, in one UNION query on a session as the tenant; `known`:
   * tables whose count is given, listed with it rather than counted.
   */
  private async rowCountsWith(knex: Knex, known: Record<string, number> = {}): Promise<Record<string, number>> {
    const key = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`;
    const { counted, given } = splitKnownCounts(await postgresTables(knex), key, known);
    if (counted.length === 0) return Object.fromEntries(given);
    const union = counted
      .map((t) => `select ? as name, count(*) as n from ${quote(t.schema)}.${quote(t.name)}`)
      .join(' union all ');
    const result = await knex.raw(union, counted.map(key));
    return Object.fromEntries([
      ...given,
      ...result.rows.map((row: { name: string; n: string }) => [row.name, Number(row.n)]),
    ]);
  }

  readStructure(login: TenantLogin): Promise<SchemaStructure> {
    return withLoginSession(this, login, postgresStructure);
  }

  structureDigest(login: TenantLogin): Promise<string> {
    return withLoginSession(this, login, postgresStructureDigest);
  }

  readOnlyQuery(login: TenantLogin, sql: string, options: ReadOnlyQueryOptions): Promise<QueryRows> {
    return withLoginSession(this, login, (knex) => postgresReadOnlyQuery(knex, sql, options), {
      readOnly: { timeoutMs: options.timeoutMs },
    });
  }

  async databaseStats(logins: TenantLogin[], options: DatabaseStatsOptions): Promise<Map<string, DatabaseStats>> {
    const databases = logins.map((l) => l.database);
    // Sizes, sessions and migration fingerprints for the whole server in three queries. Tables
    // and rows live inside each database: one connection each, so only when asked for; without
    // them a database is opened only where its fingerprint does not prove its migrations.
    // pg_database_size() stats every file of a database, the one costly part over a large fleet:
    // split in two, so both admin connections (two server processes) work on it at once.
    const half = Math.ceil(databases.length / 2);
    const sizeQuery =
      'select datname, pg_catalog.pg_database_size(datname) as bytes from pg_catalog.pg_database where datname = any(?)';
    const [sizesA, sizesB, sessions, stamps] = await Promise.all([
      this.admin.raw(sizeQuery, [databases.slice(0, half)]),
      this.admin.raw(sizeQuery, [databases.slice(half)]),
      this.admin.raw(
        // The latest state change of a session open now (not this one) is the only activity time PostgreSQL keeps.
        'select datname, count(*) as n, max(coalesce(state_change, backend_start)) filter (where pid <> pg_catalog.pg_backend_pid()) as active from pg_catalog.pg_stat_activity where datname = any(?) group by datname',
        [databases],
      ),
      readStamps(this.admin, databases),
    ]);
    const connections = new Map<string, number>(
      sessions.rows.map((r: { datname: string; n: string }) => [r.datname, Number(r.n)]),
    );
    const activity = new Map<string, string | null>(
      sessions.rows.map((r: { datname: string; active: Date | null }) => [
        r.datname,
        r.active ? new Date(r.active).toISOString() : null,
      ]),
    );
    const sizeRows = [...sizesA.rows, ...sizesB.rows] as Array<{ datname: string; bytes: string }>;
    const bytes = new Map<string, number>(sizeRows.map((r) => [r.datname, Number(r.bytes)]));
    const withTables = options.tables === true || options.exact;
    const stats = new Map<string, DatabaseStats>();
    const opened: TenantLogin[] = [];
    const loginOf = new Map(logins.map((l) => [l.database, l]));
    for (const database of bytes.keys()) {
      const applied = appliedFromStamp(stamps.get(database) ?? null, options.available);
      const entry: DatabaseStats = {
        sizeBytes: bytes.get(database)!,
        tables: null,
        rows: null,
        rowsExact: false,
        connections: connections.get(database) ?? 0,
        applied: applied ?? null,
        lastActivity: activity.get(database) ?? null,
      };
      stats.set(database, entry);
      if (withTables || !applied) opened.push(loginOf.get(database)!);
    }
    await runPool(opened, options.concurrency, async (login) => {
      const entry = stats.get(login.database)!;
      const stamped = appliedFromStamp(stamps.get(login.database) ?? null, options.available);
      // Without tables only the migration table is wanted: read as the tenant, checked first.
      if (!withTables) {
        entry.applied = await this.appliedAs(login, options.migrationsTable);
        return;
      }
      await withLoginSession(this, login, async (knex) => {
        if (withTables) {
          // n_live_tup is kept by the statistics collector: an estimate that needs no ANALYZE.
          const tables = await knex.raw(
            'select count(*) as tables, coalesce(sum(n_live_tup), 0) as rows from pg_stat_user_tables',
          );
          entry.tables = Number(tables.rows[0].tables);
          entry.rows = options.exact
            ? Object.values(await this.rowCountsWith(knex)).reduce((a, b) => a + b, 0)
            : Number(tables.rows[0].rows);
          entry.rowsExact = options.exact;
        }
        entry.applied =
          stamped ??
          (await postgresDriver.readAppliedOn(knex, options.migrationsTable, login.database).catch((error: unknown) => {
            if (error instanceof TamperedTableError) return error;
            throw error;
          }));
      });
    });
    return stats;
  }

  async readMigrationFingerprints(databases: string[]): Promise<Map<string, string | null>> {
    const stamps = await readStamps(this.admin, databases);
    return new Map([...stamps].map(([db, stamp]) => [db, stamp?.fingerprint ?? null]));
  }

  keepMigrationFingerprint(knex: Knex, table: MigrationTable): Promise<void> {
    return installStamp(knex, qualified(table));
  }

  async checkDumpTools(tools: DumpTools): Promise<string | undefined> {
    try {
      await checkedPgDump(tools, this.admin);
      resolveTool([tools.pgRestore], 'postgresql-client');
      return undefined;
    } catch (error) {
      return errorMessage(error);
    }
  }

  async listDatabases(): Promise<string[]> {
    const result = await this.admin.raw(
      'select datname from pg_catalog.pg_database where not datistemplate order by 1',
    );
    return result.rows.map((r: { datname: string }) => r.datname);
  }

  markDatabase(database: string, mark: string): Promise<void> {
    return writeOwnerMark(this.admin, database, mark);
  }

  readMarks(databases: string[]): Promise<Map<string, string | null>> {
    return readOwnerMarks(this.admin, databases);
  }

  async unmarkDatabase(database: string): Promise<void> {
    await this.onDatabase(database, (knex) => dropStamp(knex));
    await clearOwnerMark(this.admin, database);
  }

  async listUsers(): Promise<string[]> {
    const result = await this.admin.raw("select rolname from pg_catalog.pg_roles where rolname !~ '^pg_' order by 1");
    return result.rows.map((r: { rolname: string }) => r.rolname);
  }

  /**
   * A short-lived admin connection to one database (PostgreSQL cannot reach across), for catalog
   * reads only: its search_path is the catalog's, whatever the database's owner set as its default.
   */
  private async onDatabase<T>(database: string, fn: (knex: Knex) => Promise<T>): Promise<T> {
    this.watcher.assertAnswering();
    const knex = knexFactory({
      client: 'pg',
      log: QUIET_KNEX_LOG,
      connection: { ...connection(this.spec, database), options: ADMIN_SEARCH_PATH },
      pool: pool(this.spec, 1),
    });
    const release = this.watcher.hold(knex);
    try {
      return await fn(knex);
    } finally {
      release();
      await knex.destroy();
    }
  }

  tenantKnexConfig(
    { database, user, password, role }: TenantCredentials,
    { lockTimeoutMs, schemaWork, ownNameSearch, readOnly }: TenantConnectionOptions = {},
  ): Knex.Config {
    // The session logs in as the tenant's own role (user null: the admin, where the tenant has
    // none), or as a lent stand-in that takes the tenant's role at once, so the tenant owns what is
    // created (a stand-in has no rights of its own to return to). The lock timeout travels in the
    // startup packet too (a whole number of milliseconds). Role names are plain identifiers.
    // Migrations and seeds run unbounded; tenantctl's own reads within statementTimeout.
    const use: ConnectionUse = schemaWork ? 'migrations' : 'tenantctl';
    const settings = [
      user && role ? `-c role=${role}` : '',
      lockTimeoutMs !== undefined ? `-c lock_timeout=${Math.max(1, Math.round(lockTimeoutMs))}` : '',
      ownNameSearch && !user ? '-c search_path=public' : '',
      // In the startup packet: the session is read only before its first statement, at no round trip.
      readOnly ? '-c default_transaction_read_only=on' : '',
    ].filter(Boolean);
    const options = settings.length ? settings.join(' ') : undefined;
    const login = user
      ? connection(this.spec, database, user, password, use)
      : connection(this.spec, database, this.spec.user, this.spec.password, use);
    return {
      client: 'pg',
      log: QUIET_KNEX_LOG,
      connection: {
        ...login,
        ...(options ? { options } : {}),
        ...(readOnly ? { statement_timeout: Math.max(1, Math.round(readOnly.timeoutMs)) } : {}),
      },
      pool: pool(this.spec, 1, use),
    };
  }

  tenantUserKnexConfig(database: string, user: string, password: string): Knex.Config {
    return {
      client: 'pg',
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
 * What `adopt --create-user` gives the new user, in an order ALTER … OWNER accepts: schemas, then
 * relations (a sequence owned by a column follows its table, so it is left out), routines and
 * standalone types; nothing of the catalog's or of an extension's.
 */
const ADOPTABLE_OBJECTS_SQL = `
with own_ns as (
  select oid, nspname from pg_catalog.pg_namespace
  where nspname not like 'pg\\_%' and nspname <> 'information_schema'
    and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_namespace'::regclass and d.objid = pg_namespace.oid and d.deptype = 'e')
)
select 'schema' as kind, pg_catalog.quote_ident(nspname) as name, 0 as ord from own_ns
union all
select case c.relkind when 'S' then 'sequence' when 'v' then 'view' when 'm' then 'materialized view' when 'f' then 'foreign table' else 'table' end,
       c.oid::pg_catalog.regclass::text, 1
from pg_catalog.pg_class c join own_ns n on n.oid = c.relnamespace
where c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_class'::regclass and d.objid = c.oid and d.deptype in ('a', 'i', 'e'))
union all
select 'routine', p.oid::pg_catalog.regprocedure::text, 2
from pg_catalog.pg_proc p join own_ns n on n.oid = p.pronamespace
where p.prokind in ('f', 'p', 'w')
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
union all
select case t.typtype when 'd' then 'domain' else 'type' end, t.oid::pg_catalog.regtype::text, 3
from pg_catalog.pg_type t join own_ns n on n.oid = t.typnamespace
where (t.typtype in ('e', 'd', 'r') or (t.typtype = 'c' and exists (select 1 from pg_catalog.pg_class c where c.oid = t.typrelid and c.relkind = 'c')))
  and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_type'::regclass and d.objid = t.oid and d.deptype = 'e')
order by 3, 2`;
