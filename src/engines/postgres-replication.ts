import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { TenantctlError, errorMessage } from '../core/errors.js';
import { generatePassword, redact } from '../core/secrets.js';
import type {
  DumpTools,
  LiveComparison,
  OnlineMoves,
  ServerConnection,
  TenantLogin,
  WriteMarks,
} from './engine-driver.js';
import { compareLive, NotAppliedInTime } from './live-compare.js';
import { postgresLiveCompare } from './postgres-live-compare.js';
import { scramSha256Verifier } from './postgres-scram.js';
import type { ServerSpec } from './server-spec.js';
import { withLoginSession } from './tenant-session.js';
import type { TenantConnections, EngineDriver } from './engine-driver.js';

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;
/** A libpq conninfo value: quoted, with `\` and `'` escaped. */
const conninfoValue = (value: string) => `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;

/** The server's tenant sessions (see withLoginSession). */
type Sessions = TenantConnections & { readonly driver: EngineDriver };

/** What of the PostgreSQL server's internals the replication side needs (see PostgresServer). */
export interface PostgresParts {
  readonly spec: ServerSpec;
  admin(): Knex;
  onDatabase<T>(database: string, fn: (knex: Knex) => Promise<T>): Promise<T>;
  /** A schema-only dump of the login's database into `file`. */
  dumpSchema(login: TenantLogin, file: string, tools: DumpTools): Promise<void>;
}

/** How long the fence waits for the tenant's ended sessions to be gone. */
const SESSIONS_GONE_MS = 10_000;

/** Errors of the subscription's workers a move lives with (one may be a restart) before it fails. */
const SUBSCRIPTION_ERRORS_TOLERATED = 3;

/** The move's replication login on the source: its name (the other objects share the move's name). */
const loginOf = (name: string) => name;

/**
 * A PostgreSQL online move through logical replication: a publication of the tenant's database
 * on the source, a subscription in the target's (copy_data), a slot on the source the
 * subscription streams from, and a login of the move's own the subscription connects as (a
 * member of the tenant's role with REPLICATION, a random password, dropped afterwards): the
 * admin's credentials never leave tenantctl. Both servers' admins must be superusers (a
 * publication FOR ALL TABLES, a subscription).
 */
export class PostgresReplication implements OnlineMoves {
  readonly method = 'logical replication (a publication on the source, a subscription on the target)';
  readonly dumpsInitialCopy = false;

  constructor(
    private readonly sessions: Sessions,
    private readonly host: PostgresParts,
  ) {}

  private get admin(): Knex {
    return this.host.admin();
  }

  private async setting(name: string): Promise<string> {
    const result = await this.admin.raw('select pg_catalog.current_setting(?) as v', [name]);
    return (result.rows[0] as { v: string }).v;
  }

  private async superuser(): Promise<boolean> {
    const result = await this.admin.raw('select rolsuper from pg_catalog.pg_roles where rolname = current_user');
    return Boolean((result.rows[0] as { rolsuper?: boolean } | undefined)?.rolsuper);
  }

  async sourceBlockers(): Promise<string[]> {
    const blockers: string[] = [];
    const wal = await this.setting('wal_level');
    if (wal !== 'logical')
      blockers.push(`wal_level is ${wal}, not logical (set wal_level = logical and restart the server)`);
    const slots = await this.admin.raw(
      "select pg_catalog.current_setting('max_replication_slots')::int - (select count(*) from pg_catalog.pg_replication_slots) as free, pg_catalog.current_setting('max_wal_senders')::int - (select count(*) from pg_catalog.pg_stat_replication) as senders",
    );
    const { free, senders } = slots.rows[0] as { free: number; senders: number };
    if (Number(free) < 1) blockers.push('no free replication slot (raise max_replication_slots)');
    if (Number(senders) < 1) blockers.push('no free WAL sender (raise max_wal_senders)');
    if (!(await this.superuser()))
      blockers.push(
        "the server's admin user is not a superuser (a publication of every table and a replication login need one)",
      );
    return blockers;
  }

  async targetBlockers(): Promise<string[]> {
    const blockers: string[] = [];
    if (!(await this.superuser()))
      blockers.push("the target's admin user is not a superuser (creating a subscription needs one)");
    if (Number(await this.setting('max_logical_replication_workers')) < 1)
      blockers.push('max_logical_replication_workers is 0 on the target');
    return blockers;
  }

  async tablesWithoutKey(database: string): Promise<string[]> {
    return this.host.onDatabase(database, async (knex) => {
      const result = await knex.raw(
        "select n.nspname || '.' || c.relname as name from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.relkind in ('r', 'p') and c.relreplident = 'd' and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast' and not exists (select 1 from pg_catalog.pg_index i where i.indrelid = c.oid and i.indisprimary) order by 1",
      );
      return (result.rows as Array<{ name: string }>).map((r) => r.name);
    });
  }

  /** The schema only: the subscription copies the rows (copy_data) and finds its own start. */
  async initialCopy(
    sourceLogin: TenantLogin,
    target: ServerConnection,
    targetLogin: TenantLogin,
    tools: DumpTools,
  ): Promise<null> {
    // A directory of its own (mode 0700): the schema is the tenant's, if not its rows.
    const dir = await mkdtemp(join(tmpdir(), 'tenantctl-schema-'));
    try {
      const file = join(dir, 'schema.dump');
      await this.host.dumpSchema(sourceLogin, file, tools);
      await target.restore(targetLogin, file, tools);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return null;
  }

  async publish(name: string, database: string, tenantUser: string, fullTables: string[]): Promise<string> {
    const password = generatePassword();
    const verifier = scramSha256Verifier(password);
    const login = loginOf(name);
    await this.dropLogin(login);
    try {
      // The tenant's rights (to read its tables for the initial copy) and REPLICATION, no more.
      await this.admin.raw(
        `create role ${quote(login)} login replication password '${verifier}' in role ${quote(tenantUser)}`,
      );
    } catch (error) {
      throw new TenantctlError(redact(errorMessage(error), [verifier, password]));
    }
    await this.admin.raw(`grant connect on database ${quote(database)} to ${quote(login)}`);
    await this.host.onDatabase(database, async (knex) => {
      for (const table of fullTables) await knex.raw(`alter table ${qualified(table)} replica identity full`);
      await knex.raw(`drop publication if exists ${quote(name)}`);
      await knex.raw(`create publication ${quote(name)} for all tables`);
    });
    const spec = this.host.spec;
    return [
      `host=${conninfoValue(spec.host ?? '127.0.0.1')}`,
      `port=${conninfoValue(String(spec.port ?? 5432))}`,
      `dbname=${conninfoValue(database)}`,
      `user=${conninfoValue(login)}`,
      `password=${conninfoValue(password)}`,
      `application_name=${conninfoValue(name)}`,
      // The target server connects to the source itself: tenantctl's certificate files are on
      // this machine, not the server's, so a TLS source is asked for TLS without them (`require`).
      ...(spec.tls && spec.tls.mode !== 'disable'
        ? [`sslmode=${spec.tls.mode === 'prefer' ? 'prefer' : 'require'}`]
        : []),
    ].join(' ');
  }

  async subscribe(name: string, database: string, connection: string): Promise<void> {
    // (No start: the subscription's own slot, created here, is where it starts.)
    const version = Number(await this.setting('server_version_num'));
    await this.host.onDatabase(database, async (knex) => {
      // Before PostgreSQL 16 the subscription's apply and initial copy run as its owner, a
      // superuser: a function of the tenant's (a check, an index expression, a generated column)
      // or a trigger it enabled ALWAYS/REPLICA would run with those rights. Such a schema moves
      // offline there; from 16 the apply runs as each table's owner (run_as_owner = false).
      if (version < 160000) await refuseTenantCode(knex, version);
      // The statement holds the replication login's password: kept out of the target's server log
      // (the session's one connection; a superuser's to set). The login is dropped after the move.
      await knex.raw("set log_statement = 'none'");
      await knex.raw('set log_min_duration_statement = -1');
      await knex.raw("set log_min_error_statement = 'panic'");
      try {
        await knex.raw(
          `create subscription ${quote(name)} connection ${literal(connection)} publication ${quote(name)} with (copy_data = true, create_slot = true, slot_name = ${literal(name)}${version >= 160000 ? ', run_as_owner = false' : ''})`,
        );
      } catch (error) {
        throw new TenantctlError(`cannot subscribe to the source: ${redactConninfo(errorMessage(error), connection)}`);
      }
    });
  }

  async tablesCopying(name: string, database: string): Promise<number> {
    // A subscription that keeps failing (a table it cannot copy or apply) would be waited for
    // forever: it fails the move instead, which rolls it back. PostgreSQL 15 counts its errors.
    if (Number(await this.setting('server_version_num')) >= 150000) {
      const stats = await this.admin.raw(
        'select apply_error_count + sync_error_count as errors from pg_catalog.pg_stat_subscription_stats where subname = ?',
        [name],
      );
      const errors = Number((stats.rows[0] as { errors?: string } | undefined)?.errors ?? 0);
      if (errors >= SUBSCRIPTION_ERRORS_TOLERATED)
        throw new TenantctlError(
          `the target's subscription failed ${errors} times copying or applying the tenant's rows (the target server's log says why)`,
        );
    }
    return this.host.onDatabase(database, async (knex) => {
      const result = await knex.raw(
        "select count(*) filter (where r.srsubstate <> 'r') as copying, count(*) as n from pg_catalog.pg_subscription_rel r join pg_catalog.pg_subscription s on s.oid = r.srsubid where s.subname = ?",
        [name],
      );
      return Number((result.rows[0] as { copying: string }).copying);
    });
  }

  async lagBytes(name: string): Promise<number | null> {
    const result = await this.admin.raw(
      'select pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), confirmed_flush_lsn) as lag from pg_catalog.pg_replication_slots where slot_name = ?',
      [name],
    );
    const row = result.rows[0] as { lag: string | null } | undefined;
    return row ? Number(row.lag ?? Number.MAX_SAFE_INTEGER) : null;
  }

  async fence(name: string, database: string, user: string): Promise<void> {
    await this.admin.raw(`alter role ${quote(user)} nologin`);
    // As suspendAccess, but the move's replication session (its walsender) goes on streaming.
    const theirs =
      'from pg_catalog.pg_stat_activity where (usename = ? or (datname = ? and usename is distinct from current_user and usename is distinct from ?)) and pid <> pg_catalog.pg_backend_pid()';
    const who = [user, database, loginOf(name)];
    await this.admin.raw(`select pg_catalog.pg_terminate_backend(pid) ${theirs}`, who);
    // A session told to end may still be finishing a commit: the position read after the fence
    // must come after everything the tenant committed (and its write counts be in, see writeMarks).
    const deadline = Date.now() + SESSIONS_GONE_MS;
    for (;;) {
      const left = await this.admin.raw(`select count(*) as n ${theirs}`, who);
      if (Number((left.rows[0] as { n: string }).n) === 0) return;
      if (Date.now() > deadline)
        throw new TenantctlError(`the tenant's sessions did not end within ${SESSIONS_GONE_MS} ms of the fence`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** The subscriber confirms what it applied to the source's slot: the source alone tells. */
  async awaitApplied(name: string, _target: ServerConnection, timeoutMs: number): Promise<void> {
    // Everything the fenced tenant committed is before this position; the subscriber confirms
    // what it has applied (and flushed) back to the slot.
    const at = await this.admin.raw('select pg_catalog.pg_current_wal_lsn()::text as lsn');
    const lsn = (at.rows[0] as { lsn: string }).lsn;
    const deadline = Date.now() + timeoutMs;
    for (let wait = 10; ; wait = Math.min(wait * 2, 100)) {
      const result = await this.admin.raw(
        'select confirmed_flush_lsn >= ?::pg_lsn as done from pg_catalog.pg_replication_slots where slot_name = ?',
        [lsn, name],
      );
      const row = result.rows[0] as { done: boolean } | undefined;
      if (!row) throw new TenantctlError(`the move's replication slot "${name}" is gone from the source`);
      if (row.done) return;
      if (Date.now() > deadline)
        throw new NotAppliedInTime(`the target did not apply the source's changes up to ${lsn} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  compareLive(
    name: string,
    sourceLogin: TenantLogin,
    target: ServerConnection,
    targetLogin: TenantLogin,
  ): Promise<LiveComparison> {
    if (!(target.onlineMoves instanceof PostgresReplication)) throw new TenantctlError('the target is not PostgreSQL');
    return compareLive(
      postgresLiveCompare,
      this.sessions,
      sourceLogin,
      target.onlineMoves.sessions,
      targetLogin,
      (timeoutMs) => this.awaitApplied(name, target, timeoutMs),
      () => this.writeMarks(sourceLogin),
    );
  }

  /**
   * A plain table's mark: its file (TRUNCATE and rewrites give it a new one) and its counts of
   * rows inserted, updated and deleted, which every write adds to. Since PostgreSQL 15 a session
   * adds its counts to the server's at the latest as it exits (before it leaves pg_stat_activity),
   * and the fence waits for the tenant's sessions to be gone: nothing written is left uncounted.
   * Older servers send counts to a collector that may drop them, and with `track_counts` off none
   * are kept: no marks there, every table is counted. Partitioned tables are never marked (their
   * rows are their partitions', counted apart).
   */
  async writeMarks(login: TenantLogin): Promise<WriteMarks> {
    if (Number(await this.setting('server_version_num')) < 150000) return {};
    // As the tenant (the statistics views are everyone's): an admin session in the tenant's
    // database would resolve the `||` below through a search path the tenant can set.
    return withLoginSession(this.sessions, login, async (knex) => {
      const result = await knex.raw(
        "select s.schemaname || '.' || s.relname as name, c.relfilenode || ':' || s.n_tup_ins || ':' || s.n_tup_upd || ':' || s.n_tup_del as mark from pg_catalog.pg_stat_user_tables s join pg_catalog.pg_class c on c.oid = s.relid where c.relkind = 'r' and pg_catalog.current_setting('track_counts')::boolean",
      );
      return Object.fromEntries((result.rows as Array<{ name: string; mark: string }>).map((r) => [r.name, r.mark]));
    });
  }

  async unwrittenSince(login: TenantLogin, marks: WriteMarks): Promise<string[]> {
    const now = await this.writeMarks(login);
    return Object.keys(now).filter((table) => marks[table] !== undefined && marks[table] === now[table]);
  }

  async copySequences(sourceLogin: TenantLogin, target: ServerConnection, targetLogin: TenantLogin): Promise<number> {
    const read = await withLoginSession(this.sessions, sourceLogin, async (knex) => {
      const result = await knex.raw(
        "select schemaname as schema, sequencename as name, pg_catalog.pg_sequence_last_value(pg_catalog.format('%I.%I', schemaname, sequencename)::regclass)::text as value, start_value::text as start from pg_catalog.pg_sequences where schemaname not in ('pg_catalog', 'information_schema')",
      );
      return result.rows as Array<{ schema: string; name: string; value: string | null; start: string }>;
    });
    if (!(target.onlineMoves instanceof PostgresReplication)) throw new TenantctlError('the target is not PostgreSQL');
    await withLoginSession(target.onlineMoves.sessions, targetLogin, async (knex) => {
      for (const s of read)
        await knex.raw(
          "select pg_catalog.setval(pg_catalog.format('%I.%I', ?::text, ?::text)::regclass, ?::bigint, ?::boolean)",
          [s.schema, s.name, s.value ?? s.start, s.value !== null],
        );
    });
    return read.length;
  }

  async unsubscribe(name: string, database: string): Promise<void> {
    const exists = await this.admin.raw(
      'select d.datname from pg_catalog.pg_subscription s join pg_catalog.pg_database d on d.oid = s.subdbid where s.subname = ?',
      [name],
    );
    const row = exists.rows[0] as { datname: string } | undefined;
    if (!row) return;
    // Detached from its slot first: the source's side is removed by unpublish, whether or not it answers.
    await this.host.onDatabase(row.datname || database, async (knex) => {
      await knex.raw(`alter subscription ${quote(name)} disable`);
      await knex.raw(`alter subscription ${quote(name)} set (slot_name = none)`);
      await knex.raw(`drop subscription ${quote(name)}`);
    });
  }

  async unpublish(name: string, database: string, fullTables: string[]): Promise<void> {
    const login = loginOf(name);
    // The walsender of a subscription that is gone may linger a moment: ended, then the slot dropped.
    for (let attempt = 0; ; attempt++) {
      const slot = await this.admin.raw('select active_pid from pg_catalog.pg_replication_slots where slot_name = ?', [
        name,
      ]);
      const row = slot.rows[0] as { active_pid: number | null } | undefined;
      if (!row) break;
      try {
        if (row.active_pid) await this.admin.raw('select pg_catalog.pg_terminate_backend(?)', [row.active_pid]);
        await this.admin.raw('select pg_catalog.pg_drop_replication_slot(?)', [name]);
        break;
      } catch (error) {
        if (attempt >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const present = await this.admin.raw('select 1 from pg_catalog.pg_database where datname = ?', [database]);
    if (present.rows.length) {
      await this.host.onDatabase(database, async (knex) => {
        await knex.raw(`drop publication if exists ${quote(name)}`);
        for (const table of fullTables) {
          const still = await knex.raw('select pg_catalog.to_regclass(?) as t', [qualified(table)]);
          if ((still.rows[0] as { t: string | null }).t)
            await knex.raw(`alter table ${qualified(table)} replica identity default`);
        }
      });
    }
    await this.dropLogin(login);
  }

  private async dropLogin(login: string): Promise<void> {
    await this.admin.raw(
      'select pg_catalog.pg_terminate_backend(pid) from pg_catalog.pg_stat_activity where usename = ? and pid <> pg_catalog.pg_backend_pid()',
      [login],
    );
    const databases = await this.admin
      .raw(
        "select d.datname from pg_catalog.pg_database d where pg_catalog.has_database_privilege(?, d.datname, 'connect') and exists (select 1 from pg_catalog.pg_roles where rolname = ?)",
        [login, login],
      )
      .catch(() => ({ rows: [] }));
    for (const { datname } of databases.rows as Array<{ datname: string }>)
      await this.admin.raw(`revoke all on database ${quote(datname)} from ${quote(login)}`);
    await this.admin.raw(`drop role if exists ${quote(login)}`);
  }

  async leftovers(prefix: string): Promise<Array<{ what: string; name: string }>> {
    const pattern = `${prefix.replaceAll('\\', '\\\\').replaceAll('_', '\\_').replaceAll('%', '\\%')}%`;
    const result = await this.admin.raw(
      "select 'replication slot' as what, slot_name::text as name from pg_catalog.pg_replication_slots where slot_name like ? union all select 'subscription', subname::text from pg_catalog.pg_subscription where subname like ? union all select 'replication login', rolname::text from pg_catalog.pg_roles where rolname like ? order by 2, 1",
      [pattern, pattern, pattern],
    );
    return result.rows as Array<{ what: string; name: string }>;
  }

  async removeLeftover(name: string, recorded: { database: string; fullTables: string[] } | null): Promise<void> {
    await this.unsubscribe(name, '');
    // The slot's database holds the publication of the same name.
    const slot = await this.admin.raw('select database from pg_catalog.pg_replication_slots where slot_name = ?', [
      name,
    ]);
    const database = (slot.rows[0] as { database: string | null } | undefined)?.database;
    // The publication and the replica identities are put back where the move recorded them, even
    // once the slot is gone (a move killed between dropping it and dropping the publication).
    await this.unpublish(name, database ?? recorded?.database ?? '', recorded?.fullTables ?? []);
  }
}

/** `schema.table` (as tablesWithoutKey names it) as a quoted, qualified name. */
function qualified(table: string): string {
  const dot = table.indexOf('.');
  return `${quote(table.slice(0, dot))}.${quote(table.slice(dot + 1))}`;
}

/** A string literal (standard_conforming_strings: only `'` is special). */
function literal(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** An error about the subscription, without the replication login's password. */
function redactConninfo(message: string, connection: string): string {
  const password = /password='((?:[^'\\]|\\.)*)'/.exec(connection)?.[1];
  return redact(message, [password, password?.replace(/\\(.)/g, '$1')]);
}

/**
 * Refuses (before any subscription exists) a copied schema in which replicating would run the
 * tenant's own code as the subscription's superuser owner: a function that is not an extension's
 * (called from a check, an index, a default or a generated column) or a trigger that fires during
 * replication (ENABLE ALWAYS / REPLICA). Trigger functions count only through such a trigger (they
 * cannot be called otherwise; tenantctl's own migration stamp is one). Reads the catalog only.
 */
async function refuseTenantCode(knex: Knex, version: number): Promise<void> {
  const result = await knex.raw(
    "select (select count(*)::int from pg_catalog.pg_proc p join pg_catalog.pg_namespace n on n.oid = p.pronamespace where n.nspname not in ('pg_catalog', 'information_schema') and p.prorettype not in ('pg_catalog.trigger'::pg_catalog.regtype, 'pg_catalog.event_trigger'::pg_catalog.regtype) and not exists (select 1 from pg_catalog.pg_depend d where d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass and d.objid = p.oid and d.deptype = 'e')) as functions, (select count(*)::int from pg_catalog.pg_trigger t where not t.tgisinternal and t.tgenabled in ('A', 'R')) as triggers",
  );
  const { functions, triggers } = result.rows[0] as { functions: number; triggers: number };
  if (functions === 0 && triggers === 0) return;
  const what = [
    functions ? `${functions} function(s)` : '',
    triggers ? `${triggers} trigger(s) enabled for replication` : '',
  ]
    .filter(Boolean)
    .join(' and ');
  throw new TenantctlError(
    `an online move is not safe here: the tenant's schema has ${what}, which PostgreSQL ${Math.floor(version / 10000)} would run as the subscription's superuser owner (PostgreSQL 16 runs them as the table owner); move it with --offline`,
  );
}
