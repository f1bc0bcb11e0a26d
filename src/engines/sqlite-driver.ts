import { sqliteStructure, sqliteStructureDigest } from './sqlite-structure.js';
import type { SchemaStructure } from './schema-structure.js';
import {
  accessSync,
  chmodSync,
  constants,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { randomUUID } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { openSqlite, SqliteKnexClient, sqliteModule, type SqliteDatabase } from './sqlite-native.js';
import type { Knex } from 'knex';
import { ConflictError, InternalError, TamperedTableError, UnreachableError, errorMessage } from '../core/errors.js';
import type { Writable } from 'node:stream';
import type {
  AppliedMigrations,
  DatabaseStats,
  DatabaseStatsOptions,
  EngineDriver,
  HeldLock,
  MigrationTable,
  ServerConnection,
  TenantConnectionOptions,
  TenantCredentials,
  TenantLogin,
  QueryRows,
  ReadOnlyQueryOptions,
} from './engine-driver.js';
import { sqliteCheckDump, sqliteDumpTo, sqliteRestoreFrom } from './sqlite-dump.js';
import { lockDirectoryFor, tryFileLock } from './sqlite-file-lock.js';
import type { ServerSpec } from './server-spec.js';
import { QUIET_KNEX_LOG } from './knex-log.js';
import { sqliteFingerprint, sqliteSequences } from './sqlite-fingerprint.js';
import { sqliteReadOnlyQuery } from './sqlite-query.js';
import { MARK_PATTERN, MARK_TABLE } from './ownership-mark.js';
import { ServerWatch } from './server-watch.js';
import { countedFingerprint, type ContentFingerprint, type FingerprintDepth } from './content-fingerprint.js';
import { onRawConnection } from './raw-connection.js';
import { SqliteTemplates } from './sqlite-template.js';

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** The mark that says which tenant directory this is (see SqliteServer.identity). */
const IDENTITY_FILE = '.tenantctl-identity';

function fileConfig(filename: string): Knex.Config {
  // Loaded here, before any knex: one that cannot load fails as EnvironmentError (exit 7),
  // which knex would otherwise turn into a plain error ("run npm install …").
  sqliteModule();
  return {
    client: SqliteKnexClient,
    log: QUIET_KNEX_LOG,
    connection: { filename },
    useNullAsDefault: true,
    pool: { min: 1, max: 1 },
  };
}

/**
 * The embedded registry: WAL, so readers never wait for a writer and a commit costs one sync of
 * the log. synchronous stays FULL: the registry records each step before it acts, and that
 * record must survive a power cut. Writers wait up to 10 s for each other instead of failing.
 */
function registryConfig(filename: string): Knex.Config {
  return {
    ...fileConfig(filename),
    pool: {
      min: 1,
      max: 1,
      afterCreate: (db: SqliteDatabase, done: (error: Error | null, db: unknown) => void) => {
        try {
          db.pragma('journal_mode = WAL');
          db.pragma('busy_timeout = 10000');
          done(null, db);
        } catch (error) {
          done(error as Error, db);
        }
      },
    },
  };
}

export const sqliteDriver: EngineDriver = {
  engine: 'sqlite',
  embedded: true,
  accountHosts: false,
  suspendsWithoutUser: true,
  transactionalDdl: true,
  changedRows(rawResult) {
    // better-sqlite3's run() answers { changes, lastInsertRowid }; a read answers its rows.
    const changes = Array.isArray(rawResult) ? undefined : (rawResult as { changes?: unknown } | null)?.changes;
    return typeof changes === 'number' ? changes : undefined;
  },
  backupExtension: 'sqlite.gz',
  crossDatabaseReads: false,
  supportsUsers: false,
  limits: { database: 200, user: 200 },
  // A tenant file must never take the embedded registry's name, registry.sqlite, should both share a directory.
  isReservedName: (name) => name === 'registry',
  dropIndexStatement(index) {
    return `drop index ${quote(index)};`;
  },
  quoteIdentifier: quote,
  isMissingTableError: (error) => /no such table/.test(String((error as Error | null)?.message)),
  isUniqueViolation: (error) =>
    ['SQLITE_CONSTRAINT_PRIMARYKEY', 'SQLITE_CONSTRAINT_UNIQUE'].includes(
      String((error as { code?: string } | null)?.code),
    ),
  isGoneError: (error) => (error as { code?: string } | null)?.code === 'ENOENT',
  isLoginError: () => false,
  isPasswordRequired: () => false,
  isTlsRefused: () => false,
  missingPrivilege: () => undefined,
  isTlsRequired: () => false,
  // A file in this process has no session to lose.
  isSessionLost: () => false,
  isLockTimeoutError: (error) => /^SQLITE_BUSY/.test(String((error as { code?: string } | null)?.code)),
  isPermissionDenied: () => false,

  // better-sqlite3's exec runs every statement of a script.
  async runScript(knex, sql) {
    await onRawConnection<{ exec(sql: string): unknown }, unknown>(knex, (db) => db.exec(sql));
  },

  async readAppliedOn(knex, { name: table }, database) {
    const found = (await knex.raw('select type from sqlite_master where name = ?', [table])) as Array<{ type: string }>;
    if (!found.length) return null;
    if (found[0]!.type !== 'table') throw new TamperedTableError(table, database, `a ${found[0]!.type}`);
    const rows = (await knex.raw(`select name from ${quote(table)} order by id`)) as Array<{ name: string }>;
    return rows.map((row) => row.name);
  },

  // The tools' option file takes any password (escaped); SQLite has none.
  refusedPassword: () => undefined,

  adminKnexConfig(spec) {
    if (!spec.path) throw new InternalError('SQLite spec without a path');
    mkdirSync(dirname(spec.path), { recursive: true });
    return registryConfig(spec.path);
  },

  /** The locks are files next to the registry: the registry's own configuration names them. */
  lockKnexConfig(spec) {
    return this.adminKnexConfig(spec);
  },

  /**
   * SQLite has no session locks: each lock is an OS-level lock on a small file next to the
   * registry (see sqlite-file-lock.ts), which the kernel drops when its holder exits, killed or
   * not, so a killed run never needs an unlock and a live holder is never overtaken.
   */
  async tryLock(knex, name, waitMs): Promise<HeldLock | undefined> {
    const { filename } = (knex.client.config as Knex.Config).connection as { filename: string };
    return tryFileLock(lockDirectoryFor(resolve(filename)), name, waitMs);
  },

  // Lock files beside the registry file: this machine's alone, no other user of a server shares them.
  sharedLockSpace: false,

  // A local file, reached through the file system: nothing a server grants.
  registryExposure: async () => undefined,
  restrictRegistry: async () => undefined,

  dumpAt(spec, output) {
    return sqliteDumpTo(spec.path!, output);
  },

  async restoreAt(spec, file) {
    await sqliteCheckDump(file, `${spec.path!}.check-${process.pid}`);
    await sqliteRestoreFrom(file, spec.path!);
  },

  connect(spec) {
    return new SqliteServer(spec);
  },
};

/** A "server" is a directory with one database file per tenant; users do not apply. */
class SqliteServer implements ServerConnection {
  readonly driver = sqliteDriver;
  /** Access is the file's: there are no users to create, grant or rotate. */
  readonly users = undefined;
  /** Each file is read directly: nothing to keep. */
  readonly migrationFingerprints = undefined;
  /** SQLite runs nothing by itself. */
  readonly scheduledJobs = undefined;
  /** No online move for this engine yet: it moves offline. */
  readonly onlineMoves = undefined;
  readonly templates = new SqliteTemplates((database) => this.fileFor(database));
  private readonly directory: string;
  /** Files on this machine never stop answering: nothing is watched, and `lost` never aborts unless abandoned. */
  private readonly watcher = new ServerWatch();

  get lost(): AbortSignal {
    return this.watcher.lost;
  }

  hold(knex: Knex): () => void {
    return this.watcher.hold(knex);
  }

  watch(): void {}

  confirmAnswering(): Promise<boolean> {
    return this.watcher.confirm();
  }

  abandon(reason: Error): void {
    this.watcher.abandon(reason);
  }

  constructor(spec: ServerSpec) {
    if (!spec.path) throw new InternalError('SQLite spec without a path');
    this.directory = spec.path;
  }

  fileFor(database: string): string {
    return join(this.directory, `${database}.sqlite`);
  }

  async missingPrivileges(): Promise<string[]> {
    try {
      accessSync(this.directory, constants.W_OK | constants.X_OK);
      return [];
    } catch {
      return [`write access to ${this.directory}`];
    }
  }

  async databaseSizes(databases: string[]): Promise<Map<string, number>> {
    const sizes = new Map<string, number>();
    for (const database of databases) {
      const file = this.fileFor(database);
      if (existsSync(file))
        sizes.set(
          database,
          ['', '-wal'].reduce((sum, suffix) => sum + (existsSync(file + suffix) ? statSync(file + suffix).size : 0), 0),
        );
    }
    return sizes;
  }

  async ping(): Promise<string> {
    try {
      mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new UnreachableError(`cannot use SQLite directory ${this.directory}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    const db = openSqlite(':memory:');
    try {
      return `SQLite ${(db.prepare('select sqlite_version() as v').get() as { v: string }).v}`;
    } finally {
      db.close();
    }
  }

  /**
   * A directory has no identity of its own (two paths, a symlink or a bind mount can name one
   * directory): tenantctl keeps a mark file in it, written on first contact, that travels with the
   * tenants' files when the directory is copied elsewhere.
   */
  async identity(): Promise<string> {
    mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    const file = join(this.directory, IDENTITY_FILE);
    if (!existsSync(file)) {
      // Written aside and linked into place: a reader never sees it half written, and of two
      // first contacts at once the second finds the first one's mark.
      const temporary = `${file}.${process.pid}.${randomUUID()}`;
      writeFileSync(temporary, `${randomUUID()}\n`, { mode: 0o600 });
      try {
        linkSync(temporary, file);
      } catch (error) {
        if ((error as { code?: string }).code !== 'EEXIST') throw error;
      } finally {
        rmSync(temporary, { force: true });
      }
    }
    return `sqlite:${readFileSync(file, 'utf8').trim()}`;
  }

  async databaseExists(name: string): Promise<boolean> {
    return existsSync(this.fileFor(name));
  }

  async createDatabase(name: string): Promise<void> {
    mkdirSync(this.directory, { recursive: true, mode: 0o700 });
    const file = this.fileFor(name);
    if (existsSync(file)) throw new ConflictError(`database file ${file} already exists`);
    const db = openSqlite(file);
    try {
      // WAL lets readers (stats, backups) work while the application writes.
      db.pragma('journal_mode = WAL');
    } finally {
      db.close();
    }
  }

  async dropDatabase(name: string): Promise<void> {
    const file = this.fileFor(name);
    for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${file}${suffix}`, { force: true });
  }

  /**
   * The file becomes read-only (0444). First the WAL is folded back into the file: a read-only
   * WAL database cannot be opened by the application at all.
   */
  async suspendAccess(database: string): Promise<boolean> {
    const file = this.fileFor(database);
    if ((statSync(file).mode & 0o222) !== 0) {
      const db = openSqlite(file);
      try {
        db.pragma('journal_mode = DELETE');
      } finally {
        db.close();
      }
    }
    chmodSync(file, 0o444);
    return true;
  }

  async resumeAccess(database: string): Promise<void> {
    const file = this.fileFor(database);
    chmodSync(file, 0o600);
    const db = openSqlite(file);
    try {
      db.pragma('journal_mode = WAL');
    } finally {
      db.close();
    }
  }

  async accessSuspended(database: string): Promise<boolean> {
    const file = this.fileFor(database);
    return existsSync(file) && (statSync(file).mode & 0o222) === 0;
  }

  async readAppliedMigrations(logins: TenantLogin[], { name: table }: MigrationTable): Promise<AppliedMigrations> {
    const applied: AppliedMigrations = new Map();
    for (const { database } of logins) {
      const file = this.fileFor(database);
      if (!existsSync(file)) {
        applied.set(database, null);
        continue;
      }
      const db = openSqlite(file, { readonly: true, fileMustExist: true });
      try {
        const found = db.prepare('select type from sqlite_master where name = ?').get(table) as
          { type: string } | undefined;
        applied.set(
          database,
          !found
            ? null
            : found.type !== 'table'
              ? new TamperedTableError(table, database, `a ${found.type}`)
              : (db
                  .prepare(`select name from ${quote(table)} order by id`)
                  .pluck()
                  .all() as string[]),
        );
      } finally {
        db.close();
      }
    }
    return applied;
  }

  dump(login: TenantLogin, output: Writable): Promise<void> {
    return sqliteDumpTo(this.fileFor(login.database), output);
  }

  checkDump(file: string): Promise<void> {
    return sqliteCheckDump(file, `${file}.check-${process.pid}`);
  }

  restore(login: TenantLogin, file: string): Promise<void> {
    return sqliteRestoreFrom(file, this.fileFor(login.database));
  }

  async listTables(database: string): Promise<string[]> {
    return this.readFile(
      database,
      (db) =>
        db
          .prepare(
            "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name <> ? order by 1",
          )
          .pluck()
          .all(MARK_TABLE) as string[],
    );
  }

  async rowCounts({ database }: TenantLogin): Promise<Record<string, number>> {
    return this.readFile(database, countRows);
  }

  async contentFingerprint(
    { database }: TenantLogin,
    depth: FingerprintDepth = 'content',
  ): Promise<ContentFingerprint> {
    return this.readFile(database, (db) =>
      depth === 'rows' ? countedFingerprint(countRows(db), sqliteSequences(db)) : sqliteFingerprint(db),
    );
  }

  async readStructure({ database }: TenantLogin): Promise<SchemaStructure> {
    return this.readFile(database, sqliteStructure);
  }

  async structureDigest({ database }: TenantLogin): Promise<string> {
    return this.readFile(database, sqliteStructureDigest);
  }

  async readOnlyQuery({ database }: TenantLogin, sql: string, options: ReadOnlyQueryOptions): Promise<QueryRows> {
    return this.readFile(database, (db) => sqliteReadOnlyQuery(db, sql, options));
  }

  async databaseStats(logins: TenantLogin[], options: DatabaseStatsOptions): Promise<Map<string, DatabaseStats>> {
    const stats = new Map<string, DatabaseStats>();
    for (const login of logins) {
      const { database } = login;
      const file = this.fileFor(database);
      if (!existsSync(file)) continue;
      const sizeBytes = ['', '-wal'].reduce(
        (sum, suffix) => sum + (existsSync(file + suffix) ? statSync(file + suffix).size : 0),
        0,
      );
      // Counting is exact and cheap at the sizes SQLite tenants have.
      const counts = await this.rowCounts(login);
      const applied = (await this.readAppliedMigrations([login], options.migrationsTable)).get(database) ?? null;
      stats.set(database, {
        sizeBytes,
        tables: Object.keys(counts).length,
        rows: Object.values(counts).reduce((a, b) => a + b, 0),
        rowsExact: true,
        connections: null,
        applied,
        // The file's (or its write-ahead log's) last write.
        lastActivity: new Date(
          Math.max(...['', '-wal'].map((suffix) => (existsSync(file + suffix) ? statSync(file + suffix).mtimeMs : 0))),
        ).toISOString(),
      });
    }
    return stats;
  }

  async checkDumpTools(): Promise<string | undefined> {
    return undefined; // SQLite backups need no external tool
  }

  async listDatabases(): Promise<string[]> {
    if (!existsSync(this.directory)) return [];
    return readdirSync(this.directory)
      .filter((f) => f.endsWith('.sqlite'))
      .map((f) => f.slice(0, -'.sqlite'.length))
      .sort();
  }

  /** The mark is the one row of MARK_TABLE in the file itself: a copy of the file (a dump, a move) keeps it. */
  async markDatabase(database: string, mark: string): Promise<void> {
    if ((await this.readMarks([database])).get(database) === mark) return;
    const db = openSqlite(this.fileFor(database), { fileMustExist: true });
    try {
      db.exec(`create table if not exists ${quote(MARK_TABLE)} (registry text primary key)`);
      db.transaction(() => {
        db.prepare(`delete from ${quote(MARK_TABLE)}`).run();
        db.prepare(`insert into ${quote(MARK_TABLE)} (registry) values (?)`).run(mark);
      })();
    } finally {
      db.close();
    }
  }

  async unmarkDatabase(database: string): Promise<void> {
    if (!existsSync(this.fileFor(database))) return;
    const db = openSqlite(this.fileFor(database), { fileMustExist: true });
    try {
      db.exec(`drop table if exists ${quote(MARK_TABLE)}`);
    } finally {
      db.close();
    }
  }

  async readMarks(databases: string[]): Promise<Map<string, string | null>> {
    const marks = new Map<string, string | null>();
    for (const database of databases) {
      const mark = existsSync(this.fileFor(database))
        ? this.readFile(database, (db) => {
            const table = db.prepare("select 1 from sqlite_master where type = 'table' and name = ?").get(MARK_TABLE);
            return table
              ? (db
                  .prepare(`select registry from ${quote(MARK_TABLE)}`)
                  .pluck()
                  .get() as string)
              : null;
          })
        : null;
      marks.set(database, mark && MARK_PATTERN.test(mark) ? mark : null);
    }
    return marks;
  }

  private readFile<T>(database: string, fn: (db: SqliteDatabase) => T): T {
    const db = openSqlite(this.fileFor(database), { readonly: true, fileMustExist: true });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  }

  tenantKnexConfig({ database }: TenantCredentials, { lockTimeoutMs }: TenantConnectionOptions = {}): Knex.Config {
    const config = fileConfig(this.fileFor(database));
    if (lockTimeoutMs === undefined) return config;
    // A writer waits this long for another writer before SQLITE_BUSY.
    const afterCreate = (db: SqliteDatabase, done: (error: Error | null, db: unknown) => void) => {
      try {
        db.pragma(`busy_timeout = ${Math.max(0, Math.round(lockTimeoutMs))}`);
        done(null, db);
      } catch (error) {
        done(error as Error, db);
      }
    };
    return { ...config, pool: { ...config.pool, afterCreate } };
  }

  tenantUserKnexConfig(database: string): Knex.Config {
    return fileConfig(this.fileFor(database));
  }

  async close(): Promise<void> {}
}

/** Exact row count of every table but the ownership mark. */
function countRows(db: SqliteDatabase): Record<string, number> {
  const tables = db
    .prepare(
      "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' and name <> ? order by 1",
    )
    .pluck()
    .all(MARK_TABLE) as string[];
  return Object.fromEntries(
    tables.map((t) => [
      t,
      Number(
        db
          .prepare(`select count(*) from ${quote(t)}`)
          .pluck()
          .get(),
      ),
    ]),
  );
}
