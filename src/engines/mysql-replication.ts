import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Knex } from 'knex';
import { TenantctlError, errorMessage } from '../core/errors.js';
import { generatePassword, redact } from '../core/secrets.js';
import type {
  DumpTools,
  EngineDriver,
  LiveComparison,
  OnlineMoves,
  ServerConnection,
  TenantConnections,
  TenantLogin,
  WriteMarks,
} from './engine-driver.js';
import { compareLive, NotAppliedInTime } from './live-compare.js';
import { mysqlDumpTo } from './mysql-dump.js';
import { mysqlLiveCompare } from './mysql-live-compare.js';
import type { ToolControl } from './run-tool.js';
import type { ServerSpec } from './server-spec.js';
import { withLoginSession } from './tenant-session.js';

const quote = (name: string) => `\`${name.replaceAll('`', '``')}\``;

/** The server's tenant sessions (see withLoginSession). */
type Sessions = TenantConnections & { readonly driver: EngineDriver };

/** What of the MySQL server's internals the replication side needs (see MysqlServer). */
export interface MysqlParts {
  readonly spec: ServerSpec;
  /** The host part of the accounts tenantctl creates (`mysqlUserHost`, default `%`). */
  readonly userHost: string;
  admin(): Knex;
  flavour(): Promise<'mariadb' | 'mysql'>;
  /** The clause and hash that set a password without the plaintext reaching the server. */
  identifiedBy(password: string): Promise<{ clause: string; hash: string }>;
  /** Locks the account and ends its sessions (suspendAccess). */
  suspendAccess(database: string, user: string | null): Promise<boolean>;
  toolControl(dump: boolean): ToolControl;
}

/** A binlog position: where replication starts, or how far a server has written. */
interface Position {
  file: string;
  pos: number;
}

/** How the target's replication connects to the source (publish's answer: a secret, as JSON). */
interface Connection {
  host: string;
  port: number;
  user: string;
  password: string;
  /** The source's database: the one the target replays, under its own name. */
  database: string;
  tls: boolean;
}

/** One replication connection's state on the target, as either flavour names it. */
interface ReplicaStatus {
  ioRunning: string;
  sqlRunning: string;
  /** The source's binlog file and position the target has executed up to. */
  executed: Position;
  ioError: string;
  sqlError: string;
}

/** "Access denied; you need the … privilege for this operation". */
const ER_SPECIFIC_ACCESS_DENIED = 1227;

/** How long the fence waits for the tenant's killed sessions to be gone. */
const SESSIONS_GONE_MS = 10_000;

/**
 * A MySQL/MariaDB online move through the servers' own binlog replication: a consistent snapshot
 * of the tenant's database with its binlog position (mysqldump --single-transaction
 * --master-data), restored on the target as the tenant's new user, then a replication connection
 * of the move's own on the target (MariaDB: a named connection of multi-source replication; MySQL
 * 8: a channel) that replays, from that position, the tenant's database only (replicate_do_db,
 * with replicate_rewrite_db where the target's database is named otherwise), logging in to the
 * source as a replication user of the move's own (REPLICATION SLAVE only, a random password,
 * dropped afterwards): the admin's credentials never leave tenantctl.
 *
 * Positions are binlog file and offset, never GTIDs: a replica's GTID position (MariaDB
 * gtid_slave_pos, MySQL's executed set) is one per server, shared by every replication the
 * target runs, so a move that set it would disturb the target's own replicas and primaries.
 *
 * The target's replication thread applies what the tenant wrote as row images (binlog_format =
 * ROW): triggers do not fire on it (MariaDB's slave_run_triggers_for_rbr is refused), functions
 * are not called; DDL the tenant runs meanwhile arrives as its statement, objects with the
 * tenant's own user as definer (no tenant can name another), which on the target is its new
 * user of the same name.
 */
export class MysqlReplication implements OnlineMoves {
  readonly method =
    'binlog replication (a snapshot with its binlog position, then a replication connection on the target)';
  readonly dumpsInitialCopy = true;

  constructor(
    private readonly sessions: Sessions,
    private readonly host: MysqlParts,
  ) {}

  private get admin(): Knex {
    return this.host.admin();
  }

  private async variables(names: string[]): Promise<Record<string, string | null>> {
    const [rows] = await this.admin.raw(
      `select variable_name as name, variable_value as value from information_schema.global_variables where variable_name in (${names.map(() => '?').join(',')})`,
      names.map((n) => n.toUpperCase()),
    );
    const found = Object.fromEntries(
      (rows as Array<{ name: string; value: string }>).map((r) => [r.name.toLowerCase(), r.value]),
    );
    return Object.fromEntries(names.map((n) => [n, found[n] ?? null]));
  }

  /** The admin's global privileges (as information_schema lists them) and whether it may grant them. */
  private async privileges(): Promise<{ held: Set<string>; grantable: boolean }> {
    const [rows] = await this.admin.raw(
      "select privilege_type as p, is_grantable as g from information_schema.user_privileges where grantee = concat(quote(substring_index(current_user(), '@', 1)), '@', quote(substring_index(current_user(), '@', -1)))",
    );
    const list = rows as Array<{ p: string; g: string }>;
    return { held: new Set(list.map((r) => r.p)), grantable: list.some((r) => r.g === 'YES') };
  }

  async sourceBlockers(): Promise<string[]> {
    const blockers: string[] = [];
    const v = await this.variables(['log_bin', 'binlog_format', 'server_id']);
    if (v.log_bin !== 'ON')
      blockers.push('log_bin is OFF (start the server with log_bin, binlog_format = ROW and a server_id of its own)');
    if (v.binlog_format !== 'ROW')
      blockers.push(`binlog_format is ${v.binlog_format ?? 'unknown'}, not ROW (set binlog_format = ROW)`);
    if (v.server_id === '0') blockers.push('server_id is 0 (give the server a server_id of its own)');
    const { held, grantable } = await this.privileges();
    const missing = [
      ...(held.has('REPLICATION SLAVE') && grantable ? [] : ['REPLICATION SLAVE with GRANT OPTION']),
      ...(held.has('CREATE USER') ? [] : ['CREATE USER']),
      ...(['BINLOG MONITOR', 'REPLICATION CLIENT', 'SUPER'].some((p) => held.has(p))
        ? []
        : ['BINLOG MONITOR (MySQL: REPLICATION CLIENT)']),
    ];
    if (missing.length)
      blockers.push(
        `the server's admin user lacks ${missing.join(', ')} (an online move creates a replication user and reads the binlog position)`,
      );
    return blockers;
  }

  async targetBlockers(source: ServerConnection): Promise<string[]> {
    const blockers: string[] = [];
    if (!(source.onlineMoves instanceof MysqlReplication)) return ['the source is not MySQL/MariaDB'];
    const [flavour, sourceFlavour] = await Promise.all([this.host.flavour(), source.onlineMoves.host.flavour()]);
    if (flavour !== sourceFlavour)
      blockers.push(
        `the target runs ${flavour}, the source ${sourceFlavour}: an online move replicates between the same kind`,
      );
    const names = [
      'server_id',
      'gtid_domain_id',
      'gtid_strict_mode',
      'log_slave_updates',
      'slave_run_triggers_for_rbr',
      'gtid_mode',
    ];
    const [mine, theirs] = await Promise.all([this.variables(names), source.onlineMoves.variables(names)]);
    if (mine.server_id === '0') blockers.push('server_id is 0 (a server with server_id 0 does not replicate)');
    else if (mine.server_id === theirs.server_id)
      blockers.push(
        `server_id is ${mine.server_id} on both servers (a replica skips what carries its own server_id: give each its own)`,
      );
    if (flavour === 'mariadb') {
      if (mine.slave_run_triggers_for_rbr && mine.slave_run_triggers_for_rbr !== 'NO')
        blockers.push(
          `slave_run_triggers_for_rbr is ${mine.slave_run_triggers_for_rbr} (the tenant's triggers would run again on replicated rows: set it to NO)`,
        );
      // The source's GTIDs would be logged again on the target, behind its own in the same domain.
      if (
        mine.gtid_strict_mode === 'ON' &&
        mine.log_slave_updates === 'ON' &&
        mine.gtid_domain_id === theirs.gtid_domain_id
      )
        blockers.push(
          `gtid_strict_mode and log_slave_updates are ON and both servers use gtid_domain_id ${mine.gtid_domain_id} (give each its own gtid_domain_id, or turn log_slave_updates off)`,
        );
    } else if (theirs.gtid_mode === 'ON' && mine.gtid_mode !== 'ON')
      blockers.push(
        `gtid_mode is ON on the source, ${mine.gtid_mode ?? 'OFF'} on the target (set gtid_mode = ON on the target)`,
      );
    const { held } = await this.privileges();
    if (!['SUPER', 'REPLICATION SLAVE ADMIN', 'REPLICATION_SLAVE_ADMIN'].some((p) => held.has(p)))
      blockers.push(
        "the target's admin user lacks REPLICATION SLAVE ADMIN (or SUPER) to set up a replication connection",
      );
    return blockers;
  }

  /** Row images identify rows without a key too (the target searches for the whole row): none needs anything. */
  async tablesWithoutKey(): Promise<string[]> {
    return [];
  }

  async initialCopy(
    sourceLogin: TenantLogin,
    target: ServerConnection,
    targetLogin: TenantLogin,
    tools: DumpTools,
    workDir: string,
  ): Promise<string> {
    // A directory of its own (mode 0700) where backups go: the snapshot holds the tenant's rows.
    await mkdir(workDir, { recursive: true });
    const dir = await mkdtemp(join(workDir, '.tenantctl-move-snapshot-'));
    try {
      const file = join(dir, 'snapshot.sql.gz');
      const control = this.host.toolControl(true);
      const position = ['--master-data=2'];
      if ((await this.host.flavour()) === 'mariadb') {
        // MariaDB reads the position of the dump's own consistent snapshot (binlog_snapshot_file
        // and _position, which any session may read): the tenant's user dumps, as for a backup.
        await withLoginSession(this.sessions, sourceLogin, (_knex, credentials) =>
          mysqlDumpTo(this.host.spec, credentials, createWriteStream(file, { mode: 0o600 }), tools, control, position),
        );
      } else {
        // MySQL takes the position under FLUSH TABLES WITH READ LOCK and SHOW BINARY LOG STATUS,
        // which need RELOAD and REPLICATION CLIENT, no tenant's user has: the admin dumps. That
        // runs nothing of the tenant's: mysqldump reads base tables' rows and the catalog's
        // definitions (views, routines, triggers and events are written out, never run); the
        // restore below runs as the tenant's new user, definers rewritten to it.
        await mysqlDumpTo(
          this.host.spec,
          { database: sourceLogin.database, user: null },
          createWriteStream(file, { mode: 0o600 }),
          tools,
          control,
          position,
        );
      }
      const start = await positionIn(file);
      await target.restore(targetLogin, file, tools);
      return JSON.stringify(start);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async publish(name: string, database: string): Promise<string> {
    const password = generatePassword();
    await this.dropLogin(name);
    const { clause, hash } = await this.host.identifiedBy(password);
    try {
      await this.admin.raw(`create user ?@? ${clause}`, [name, this.host.userHost, hash]);
    } catch (error) {
      throw new TenantctlError(redact(errorMessage(error), [hash, password]));
    }
    // REPLICATION SLAVE only: it reads the binlog, and no table.
    await this.admin.raw('grant replication slave on *.* to ?@?', [name, this.host.userHost]);
    const spec = this.host.spec;
    const connection: Connection = {
      host: spec.host ?? '127.0.0.1',
      port: spec.port ?? 3306,
      user: name,
      password,
      database,
      // The target server connects itself: tenantctl's certificate files are on this machine, not
      // the server's, so a TLS source is asked for TLS without them.
      tls: Boolean(spec.tls && spec.tls.mode !== 'disable'),
    };
    return JSON.stringify(connection);
  }

  async subscribe(name: string, database: string, secret: string, start: string | null): Promise<void> {
    if (!start)
      throw new TenantctlError("a MySQL online move starts from its snapshot's binlog position, and has none");
    const from = JSON.parse(start) as Position;
    const source = JSON.parse(secret) as Connection;
    // The filters are comma-separated lists, the rewrite `from->to`: a name holding either cannot be said.
    for (const db of [database, source.database])
      if (/[,\n]|->/.test(db)) throw new TenantctlError(`database "${db}" cannot be named in a replication filter`);
    const flavour = await this.host.flavour();
    await onOneConnection(this.admin, async (query) => {
      // The statement holds the replication user's password: kept out of the general log.
      await query('set session sql_log_off = 1');
      try {
        if (flavour === 'mariadb') {
          await query(
            'change master ? to master_host = ?, master_port = ?, master_user = ?, master_password = ?, master_log_file = ?, master_log_pos = ?, master_use_gtid = no, master_ssl = ?',
            [name, source.host, source.port, source.user, source.password, from.file, from.pos, source.tls ? 1 : 0],
          );
          await query(`set global ${quote(name)}.replicate_do_db = ?`, [database]);
          if (database !== source.database)
            await query(`set global ${quote(name)}.replicate_rewrite_db = ?`, [`${source.database}->${database}`]);
          await query('start slave ?', [name]);
        } else {
          const gtids = await this.variables(['gtid_mode']);
          // A source without GTIDs into a target with them: the target gives them its own.
          const anonymous = gtids.gtid_mode === 'ON' ? ', assign_gtids_to_anonymous_transactions = local' : '';
          await query(
            `change replication source to source_host = ?, source_port = ?, source_user = ?, source_password = ?, source_log_file = ?, source_log_pos = ?, source_auto_position = 0, get_source_public_key = 1, source_ssl = ?${anonymous} for channel ?`,
            [source.host, source.port, source.user, source.password, from.file, from.pos, source.tls ? 1 : 0, name],
          );
          const rewrite =
            database !== source.database
              ? `, replicate_rewrite_db = ((${quote(source.database)}, ${quote(database)}))`
              : '';
          await query(`change replication filter replicate_do_db = (${quote(database)})${rewrite} for channel ?`, [
            name,
          ]);
          await query('start replica for channel ?', [name]);
        }
      } catch (error) {
        throw new TenantctlError(`cannot replicate from the source: ${redact(errorMessage(error), [source.password])}`);
      } finally {
        await query('set session sql_log_off = 0').catch(() => undefined);
      }
    });
  }

  /** The named connection's state, or undefined when there is none. */
  private async status(name: string): Promise<ReplicaStatus | undefined> {
    if (!(await this.connectionNames()).includes(name)) return undefined;
    const mariadb = (await this.host.flavour()) === 'mariadb';
    const [rows] = await this.admin.raw(mariadb ? 'show slave ? status' : 'show replica status for channel ?', [name]);
    const row = (rows as Array<Record<string, string | number | null>>)[0];
    if (!row) return undefined;
    const text = (...keys: string[]) => String(keys.map((k) => row[k]).find((v) => v !== undefined) ?? '');
    return {
      ioRunning: text('Slave_IO_Running', 'Replica_IO_Running'),
      sqlRunning: text('Slave_SQL_Running', 'Replica_SQL_Running'),
      executed: {
        file: text('Relay_Master_Log_File', 'Relay_Source_Log_File'),
        pos: Number(text('Exec_Master_Log_Pos', 'Exec_Source_Log_Pos')),
      },
      ioError: Number(row.Last_IO_Errno ?? 0) ? text('Last_IO_Error') : '',
      sqlError: Number(row.Last_SQL_Errno ?? 0) ? text('Last_SQL_Error') : '',
    };
  }

  /** The replication connections (MySQL channels) configured on this server. */
  private async connectionNames(): Promise<string[]> {
    if ((await this.host.flavour()) === 'mariadb') {
      const [rows] = await this.admin.raw('show all slaves status');
      return (rows as Array<{ Connection_name: string }>).map((r) => r.Connection_name);
    }
    const [rows] = await this.admin.raw(
      'select channel_name as name from performance_schema.replication_connection_configuration',
    );
    return (rows as Array<{ name: string }>).map((r) => r.name);
  }

  /** Throws once the connection has stopped on an error: waiting for it would be forever. */
  private async healthy(name: string): Promise<ReplicaStatus> {
    const status = await this.status(name);
    if (!status) throw new TenantctlError(`the move's replication connection "${name}" is gone from the target`);
    if (status.sqlError || status.sqlRunning === 'No')
      throw new TenantctlError(
        `the target stopped applying the tenant's changes: ${status.sqlError || 'its replication stopped'}`,
      );
    if (status.ioError && status.ioRunning !== 'Yes')
      throw new TenantctlError(`the target cannot read the source's binlog: ${status.ioError}`);
    return status;
  }

  /** Nothing is copied by replication itself (the snapshot was): only whether it still runs. */
  async tablesCopying(name: string): Promise<number> {
    await this.healthy(name);
    return 0;
  }

  /** How far the source has written its binlog (every database's). */
  private async position(): Promise<Position> {
    let rows: unknown;
    try {
      [rows] = await this.admin.raw('show master status');
    } catch {
      [rows] = await this.admin.raw('show binary log status'); // MySQL 8.4 has only this name
    }
    const row = (rows as Array<{ File: string; Position: number }>)[0];
    if (!row) throw new TenantctlError('the source writes no binlog (log_bin is OFF)');
    return { file: row.File, pos: Number(row.Position) };
  }

  async lagBytes(name: string, target: ServerConnection): Promise<number | null> {
    const replica = replicationOf(target);
    const status = await replica.status(name);
    if (!status) return null;
    await replica.healthy(name);
    const at = await this.position();
    // Another file: the binlog rotated since; the target reaches the new one soon.
    if (status.executed.file !== at.file) return Number.MAX_SAFE_INTEGER;
    return Math.max(0, at.pos - status.executed.pos);
  }

  async fence(_name: string, database: string, user: string): Promise<void> {
    // The replication user is another account: its session (the binlog dump) goes on.
    await this.host.suspendAccess(database, user);
    // A killed session may still be finishing its commit: the position read after the fence
    // must come after everything the tenant committed.
    const deadline = Date.now() + SESSIONS_GONE_MS;
    for (;;) {
      const [rows] = await this.admin.raw(
        'select count(*) as n from information_schema.processlist where user = ? and id <> connection_id()',
        [user],
      );
      if (Number((rows as Array<{ n: number }>)[0]!.n) === 0) return;
      if (Date.now() > deadline)
        throw new TenantctlError(`the tenant's sessions did not end within ${SESSIONS_GONE_MS} ms of the fence`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async awaitApplied(name: string, target: ServerConnection, timeoutMs: number): Promise<void> {
    // Everything the fenced tenant committed is before this position.
    await replicationOf(target).waitFor(name, await this.position(), timeoutMs);
  }

  /** Target: waits until the connection has executed the source's binlog up to `at`. */
  private async waitFor(name: string, at: Position, timeoutMs: number): Promise<void> {
    await this.healthy(name);
    const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
    const wait =
      (await this.host.flavour()) === 'mariadb'
        ? 'select master_pos_wait(?, ?, ?, ?) as r'
        : 'select source_pos_wait(?, ?, ?, ?) as r';
    const [rows] = await this.admin.raw(wait, [at.file, at.pos, seconds, name]);
    const r = (rows as Array<{ r: number | null }>)[0]!.r;
    if (r === null) await this.healthy(name); // stopped meanwhile: says why
    if (r === null || Number(r) < 0)
      throw new NotAppliedInTime(
        `the target did not apply the source's changes up to ${at.file}:${at.pos} within ${timeoutMs} ms`,
      );
  }

  compareLive(
    name: string,
    sourceLogin: TenantLogin,
    target: ServerConnection,
    targetLogin: TenantLogin,
  ): Promise<LiveComparison> {
    const replica = replicationOf(target);
    return compareLive(
      mysqlLiveCompare,
      this.sessions,
      sourceLogin,
      replica.sessions,
      targetLogin,
      (timeoutMs) => this.awaitApplied(name, target, timeoutMs),
      () => this.writeMarks(sourceLogin),
    );
  }

  /**
   * InnoDB keeps, in memory, each table's UPDATE_TIME: the start of the last transaction that
   * wrote to it (not its commit: a transaction that began before the lock and writes after it
   * carries its older start), and a table id that TRUNCATE and a rebuilding ALTER change. The
   * mark is the table's id and the moment since when a write shows: the earlier of now and the
   * start of the oldest transaction still open (every write after the lock is by a transaction
   * started later or open now).
   */
  async writeMarks({ database }: TenantLogin): Promise<WriteMarks> {
    return this.innodbCatalog(database, async (query, ids) => {
      if (ids.size === 0) return {};
      const [row] = (await query(
        'select least(unix_timestamp(), coalesce((select unix_timestamp(min(trx_started)) from information_schema.innodb_trx), unix_timestamp())) as since',
      )) as Array<{ since: number }>;
      const since = Math.floor(Number(row!.since));
      return Object.fromEntries([...ids].map(([table, id]) => [table, `${id}@${since}`]));
    });
  }

  async unwrittenSince({ database }: TenantLogin, marks: WriteMarks): Promise<string[]> {
    return this.innodbCatalog(database, async (query, ids) => {
      const rows = (await query(
        "select table_name as t, unix_timestamp(update_time) as u from information_schema.tables where table_schema = ? and table_type = 'BASE TABLE'",
        [database],
      )) as Array<{ t: string; u: number | null }>;
      return rows
        .filter(({ t, u }) => {
          const mark = marks[t];
          if (mark === undefined) return false;
          const [id, since] = mark.split('@');
          // No time (restarted, or evicted from InnoDB's cache since): written, for all it tells.
          return ids.get(t) === id && u !== null && Number(u) < Number(since);
        })
        .map(({ t }) => t);
    });
  }

  /**
   * On one admin connection in UTC (UPDATE_TIME is shown in the session's time zone, ambiguous
   * for an hour a year elsewhere), with MySQL 8's catalog cache off: `fn` gets the InnoDB table id
   * of each of the database's tables whose name InnoDB's catalog spells as it is (names it
   * encodes, and partitions, are left out: never marked, always counted).
   */
  private async innodbCatalog<T>(
    database: string,
    fn: (query: OnConnection, ids: Map<string, string>) => Promise<T>,
  ): Promise<T> {
    const mysql = (await this.host.flavour()) === 'mysql';
    return onOneConnection(this.admin, async (query) => {
      await query("set session time_zone = '+00:00'");
      try {
        if (mysql) await query('set session information_schema_stats_expiry = 0');
        const ids = new Map<string, string>();
        if (/^[A-Za-z0-9_]+$/.test(database)) {
          // InnoDB's catalog and its open transactions need the PROCESS privilege: an admin
          // without it gets no marks, and every table is counted.
          const rows = (await query(
            `select name, table_id as id from information_schema.${mysql ? 'innodb_tables' : 'innodb_sys_tables'} where name like ?`,
            [`${database}/%`],
          ).catch((error: unknown) => {
            if ((error as { errno?: number } | null)?.errno === ER_SPECIFIC_ACCESS_DENIED) return [];
            throw error;
          })) as Array<{ name: string; id: number | string }>;
          for (const { name, id } of rows) {
            const table = name.slice(database.length + 1);
            // LIKE's `_` matches any character: only this database's own names are taken.
            if (name.startsWith(`${database}/`) && /^[A-Za-z0-9_]+$/.test(table)) ids.set(table, String(id));
          }
        }
        return await fn(query, ids);
      } finally {
        await query('set session time_zone = @@global.time_zone');
      }
    });
  }

  async copySequences(sourceLogin: TenantLogin, target: ServerConnection, targetLogin: TenantLogin): Promise<number> {
    // Replicated rows move the target's counters past their ids only: a source whose counter went
    // further (rolled back inserts, deleted rows) must give the target its own.
    const mysql = (await this.host.flavour()) === 'mysql';
    const read = (knex: Knex) => autoIncrements(knex, mysql);
    const wanted = await withLoginSession(this.sessions, sourceLogin, read);
    const replica = replicationOf(target);
    return withLoginSession(replica.sessions, targetLogin, async (knex) => {
      const have = await read(knex);
      let set = 0;
      for (const [table, value] of wanted) {
        if ((have.get(table) ?? 0) >= value) continue;
        await knex.raw(`alter table ${quote(table)} auto_increment = ${Number(value)}`);
        set++;
      }
      return set;
    });
  }

  async unsubscribe(name: string): Promise<void> {
    if (!(await this.connectionNames()).includes(name)) return;
    // Stopped, then removed with its position, credentials and relay logs (its filters go with it).
    if ((await this.host.flavour()) === 'mariadb') {
      await this.admin.raw('stop slave ?', [name]);
      await this.admin.raw('reset slave ? all', [name]);
    } else {
      await this.admin.raw('stop replica for channel ?', [name]);
      await this.admin.raw('reset replica all for channel ?', [name]);
    }
  }

  async unpublish(name: string): Promise<void> {
    await this.dropLogin(name);
  }

  /** The move's replication user: its sessions (the target's binlog reader) ended, then dropped. */
  private async dropLogin(name: string): Promise<void> {
    const [rows] = await this.admin.raw(
      'select id from information_schema.processlist where user = ? and id <> connection_id()',
      [name],
    );
    for (const { id } of rows as Array<{ id: number }>)
      await this.admin.raw(`kill ${Number(id)}`).catch(() => undefined);
    await this.admin.raw('drop user if exists ?@?', [name, this.host.userHost]);
  }

  async leftovers(prefix: string): Promise<Array<{ what: string; name: string }>> {
    const found: Array<{ what: string; name: string }> = [];
    for (const name of await this.connectionNames())
      if (name.startsWith(prefix)) found.push({ what: 'replication connection', name });
    const pattern = `${prefix.replace(/[\\_%]/g, (c) => `\\${c}`)}%`;
    const [rows] = await this.admin.raw('select user as name from mysql.user where user like ?', [pattern]);
    for (const { name } of rows as Array<{ name: string }>) found.push({ what: 'replication user', name });
    return found.sort((a, b) => a.name.localeCompare(b.name) || a.what.localeCompare(b.what));
  }

  async removeLeftover(name: string): Promise<void> {
    await this.unsubscribe(name);
    await this.unpublish(name);
  }
}

function replicationOf(server: ServerConnection): MysqlReplication {
  if (!(server.onlineMoves instanceof MysqlReplication)) throw new TenantctlError('the target is not MySQL/MariaDB');
  return server.onlineMoves;
}

/** Every table's next AUTO_INCREMENT value, read as the session's (tenant) user. */
async function autoIncrements(knex: Knex, mysql: boolean): Promise<Map<string, number>> {
  // MySQL 8 caches the catalog's table statistics for a day: this session reads them as they are.
  if (mysql) await knex.raw('set session information_schema_stats_expiry = 0');
  const [rows] = await knex.raw(
    "select table_name as t, auto_increment as v from information_schema.tables where table_schema = database() and table_type = 'BASE TABLE' and auto_increment is not null",
  );
  return new Map((rows as Array<{ t: string; v: number }>).map((r) => [r.t, Number(r.v)]));
}

/** A query on one held connection: a session setting holds for the statements after it. */
type OnConnection = (sql: string, bindings?: unknown[]) => Promise<unknown>;

async function onOneConnection<T>(knex: Knex, fn: (query: OnConnection) => Promise<T>): Promise<T> {
  const client = knex.client as { acquireConnection(): Promise<unknown>; releaseConnection(c: unknown): Promise<void> };
  const connection = await client.acquireConnection();
  try {
    return await fn(async (sql, bindings = []) => {
      const [rows] = await knex.raw(sql, bindings as Knex.RawBinding[]).connection(connection);
      return rows as unknown;
    });
  } finally {
    await client.releaseConnection(connection);
  }
}

/**
 * The binlog position a `--master-data=2` dump was taken at, from its header's commented
 * `CHANGE MASTER TO` (MySQL 8.0.26+: `CHANGE REPLICATION SOURCE TO`). Only the header is read:
 * it comes before any of the tenant's tables, so nothing the tenant wrote can pose as it.
 */
async function positionIn(file: string): Promise<Position> {
  const lines = createInterface({ input: createReadStream(file).pipe(createGunzip()), crlfDelay: Infinity });
  let read = 0;
  try {
    for await (const line of lines) {
      if (line.startsWith('-- Table structure') || line.startsWith('CREATE') || ++read > 200) break;
      const found =
        /^-- CHANGE (?:MASTER|REPLICATION SOURCE) TO (?:MASTER|SOURCE)_LOG_FILE='([^']+)', (?:MASTER|SOURCE)_LOG_POS=(\d+);/.exec(
          line,
        );
      if (found) return { file: found[1]!, pos: Number(found[2]) };
    }
  } finally {
    lines.close();
  }
  throw new TenantctlError('the snapshot does not say its binlog position (is log_bin on?)');
}
