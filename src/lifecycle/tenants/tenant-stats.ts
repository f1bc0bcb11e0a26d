import type { Context } from '../../context/context.js';
import { TamperedTableError } from '../../core/errors.js';
import type { DatabaseStats, MigrationTable } from '../../engines/engine-driver.js';
import { listBackupRows, type BackupRow } from '../../registry/backups-repo.js';
import { listTenantRows, type TenantWithServer } from '../../registry/tenants-repo.js';
import { stoppedBy, untilCut, type RunInterrupt } from '../../core/run-interrupt.js';
import { planMigrations } from '../../tenant-schema/run-migrations.js';
import { tenantProject } from '../../tenant-schema/tenant-project.js';
import { selectTenants, type TenantSelection } from '../shared/select-tenants.js';
import type { FleetRun, UnreachableServer } from '../../core/fleet-run.js';
import { reachFleet, runOutages, serverLimit } from '../shared/fleet-servers.js';
import { assertTenantCodeTrusted, tenantLogin } from '../shared/tenant-login.js';

export interface TenantStats {
  slug: string;
  status: string;
  server: string;
  engine: string;
  database: string;
  /** Null where the database does not exist (a finding for `doctor`). */
  sizeBytes: number | null;
  /** Null where not gathered: on PostgreSQL they need a connection per database (`tables`). */
  tables: number | null;
  rows: number | null;
  /** Whether rows were counted (`--exact`, always on SQLite) rather than estimated. */
  rowsExact: boolean;
  /** The latest applied migration. */
  migration: string | null;
  pendingMigrations: number | null;
  /** Open connections to the tenant's database now; null where the engine cannot tell. */
  connections: number | null;
  /** When the database was last used, where the engine can tell (see DatabaseStats.lastActivity); else null. */
  lastActivity: string | null;
  lastBackup: { at: string; ageSeconds: number; bytes: number | null; file: string } | null;
  /** False when the tenant's server could not be reached: its numbers are unknown (null). */
  reachable: boolean;
  /**
   * Why its migrations are unknown though its server answered: its migration table is not a
   * plain table (tampered with), and was not read; or why its numbers are unknown: the server's
   * admin lacks a privilege to read them (named).
   */
  error?: string;
  /** The privilege its server's admin lacks to read its numbers (then they are null, and `error` says so). */
  missingPrivilege?: string;
}

export type StatsSort = 'size' | 'rows' | 'name';

/** A fleet read: no outcome to judge, so no `ok`; whom it could not reach is in `unreachableServers`. */
export interface StatsResult extends FleetRun<TenantStats> {
  generatedAt: string;
  tenants: TenantStats[];
  totals: {
    tenants: number;
    sizeBytes: number;
    tables: number;
    rows: number;
    connections: number;
    withPendingMigrations: number;
    withoutBackup: number;
    /** Tenants whose migration table is not a plain table (see TenantStats.error). */
    tampered: number;
    /** Tenants not read because their server's admin lacks a privilege (see TenantStats.error). */
    denied: number;
  };
  /** The five largest tenants by size. */
  largest: Array<{ slug: string; sizeBytes: number }>;
  /** Servers that could not be reached: their tenants' numbers are unknown. */
  unreachableServers: UnreachableServer[];
  /**
   * Stopped by the caller (the signal); if cut while it gathered, the servers that had not
   * answered yet are unknown.
   */
  interrupted?: string;
}

/**
 * What every selected tenant costs, gathered per server in as few queries as the engine allows
 * (see ServerConnection.databaseStats), with backup information from the registry. A read takes
 * no tenant's lock; instead the tenants' rows are read again once the servers answered, and a
 * tenant moved meanwhile is asked about again where it lives now (a list read at the start would
 * report the retired copy, or a missing database). `interrupt.cut` ends the gathering at once.
 */
export async function tenantStats(
  ctx: Context,
  selection: TenantSelection,
  options: { exact?: boolean; tables?: boolean; sort?: StatsSort; interrupt?: RunInterrupt },
): Promise<StatsResult> {
  const at = new Date();
  let tenants = await selectTenants(ctx, selection, 'stats');
  // Counting rows reads the tenant's tables: as its own user, or as the admin only if trusted.
  if (options.exact || options.tables) await assertTenantCodeTrusted(ctx, tenants, 'stats --exact/--tables');
  const project = await tenantProject(ctx);
  const available = project.source().list();
  const migrationsTable = project.table;
  const registry = await ctx.registry();

  // Servers side by side, each within its own limit; an unreachable one leaves its tenants unknown.
  const fleet = await reachFleet(ctx, tenants);
  const limit = serverLimit(ctx, tenants, Math.max(ctx.config.concurrency, 8));
  const stats: GatheredStats = new Map();
  const gather = (among: TenantWithServer[]) =>
    gatherStats(ctx, among, { ...options, concurrency: limit, available, migrationsTable }, stats);
  const cut = options.interrupt?.cut;
  const finished = await untilCut(
    gather(fleet.reachable).then(() => true),
    cut,
    () => false,
  );
  if (finished) {
    const now = new Map((await listTenantRows(registry.knex)).map((r) => [r.id, r]));
    const moved = (t: TenantWithServer) => {
      const fresh = now.get(t.id);
      return fresh && (fresh.server_id !== t.server_id || fresh.database_name !== t.database_name);
    };
    const movedAway = tenants.filter(moved).map((t) => now.get(t.id)!);
    // Deleted meanwhile: no longer one to report.
    tenants = tenants.filter((t) => now.has(t.id) && now.get(t.id)!.status !== 'deleted').map((t) => now.get(t.id)!);
    if (movedAway.length) {
      const again = await reachFleet(ctx, movedAway);
      await untilCut(gather(again.reachable), cut, () => undefined);
    }
  }

  const latestBackups = new Map<string, BackupRow>();
  for (const row of await listBackupRows(registry.knex, { status: 'ok', slugs: selection.slugs })) {
    if (!latestBackups.has(row.slug)) latestBackups.set(row.slug, row);
  }

  const rows = tenants.map((t) => statsRow(t, stats.get(t.server_id), latestBackups.get(t.slug), available, at));
  const sort = options.sort ?? 'name';
  if (sort === 'size') rows.sort((a, b) => (b.sizeBytes ?? -1) - (a.sizeBytes ?? -1) || a.slug.localeCompare(b.slug));
  if (sort === 'rows') rows.sort((a, b) => (b.rows ?? -1) - (a.rows ?? -1) || a.slug.localeCompare(b.slug));
  return {
    generatedAt: at.toISOString(),
    tenants: rows,
    totals: statsTotals(rows),
    largest: [...rows]
      .filter((t) => t.sizeBytes !== null)
      .sort((a, b) => b.sizeBytes! - a.sizeBytes!)
      .slice(0, 5)
      .map((t) => ({ slug: t.slug, sizeBytes: t.sizeBytes! })),
    unreachableServers: runOutages(
      ctx,
      fleet,
      rows.map((t) => ({ server: t.server, outcome: t.reachable ? 'ok' : 'unreachable' })),
    ),
    ...(stoppedBy(options.interrupt) ? { interrupted: stoppedBy(options.interrupt) } : {}),
  };
}

/** Each server's answers, by server id: its engine and each database's numbers. */
type GatheredStats = Map<number, { engine: string; stats: Map<string, DatabaseStats>; missingPrivilege?: string }>;

/** Asks each server of `among` about its tenants, side by side, into `stats`; an unanswering server is left out. */
async function gatherStats(
  ctx: Context,
  among: TenantWithServer[],
  options: {
    exact?: boolean;
    tables?: boolean;
    concurrency: (serverId: number) => number;
    available: string[];
    migrationsTable: MigrationTable;
  },
  stats: GatheredStats,
): Promise<void> {
  const byServer = new Map<number, TenantWithServer[]>();
  for (const t of among) byServer.set(t.server_id, [...(byServer.get(t.server_id) ?? []), t]);
  await Promise.all(
    [...byServer].map(async ([serverId, onServer]) => {
      let server: Awaited<ReturnType<Context['server']>> | undefined;
      try {
        server = await ctx.server(serverId);
        const handle = server;
        const logins = onServer.map((t) => tenantLogin(ctx, handle, t));
        const gathered = await server.connection.databaseStats(logins, {
          exact: Boolean(options.exact),
          tables: Boolean(options.tables),
          concurrency: options.concurrency(serverId),
          migrationsTable: options.migrationsTable,
          available: options.available,
        });
        const entry = stats.get(serverId);
        if (entry) for (const [db, s] of gathered) entry.stats.set(db, s);
        else stats.set(serverId, { engine: server.connection.driver.engine, stats: gathered });
      } catch (error) {
        // The admin lacks a privilege the reads need: each tenant's outcome says which.
        const missing = server?.connection.driver.missingPrivilege(error);
        if (server && missing) {
          stats.set(serverId, { engine: server.connection.driver.engine, stats: new Map(), missingPrivilege: missing });
          return;
        }
        // A server that stopped answering meanwhile leaves its tenants unknown, as one down from
        // the start; a server that answers failed for a reason of its own.
        if (!(await ctx.unansweredServer(serverId))) throw error;
      }
    }),
  );
}

/** One tenant's row, from what its server answered (undefined: not reached) and its latest good backup. */
function statsRow(
  t: TenantWithServer,
  server: ReturnType<GatheredStats['get']>,
  backup: BackupRow | undefined,
  available: string[],
  at: Date,
): TenantStats {
  const s = server?.stats.get(t.database_name);
  const missing = server?.missingPrivilege;
  const tampered = s?.applied instanceof TamperedTableError ? s.applied : undefined;
  const applied = tampered ? null : (s?.applied as string[] | null | undefined);
  return {
    slug: t.slug,
    status: t.status,
    server: t.server_name,
    engine: server?.engine ?? 'unknown',
    database: t.database_name,
    sizeBytes: s?.sizeBytes ?? null,
    tables: s?.tables ?? null,
    rows: s?.rows ?? null,
    rowsExact: s?.rowsExact ?? false,
    migration: applied?.at(-1) ?? null,
    pendingMigrations: s && !tampered ? planMigrations(available, applied ?? null).pending.length : null,
    connections: s?.connections ?? null,
    lastActivity: s?.lastActivity ?? null,
    lastBackup: backup
      ? {
          at: backup.started_at,
          ageSeconds: Math.max(0, Math.round((at.getTime() - Date.parse(backup.started_at)) / 1000)),
          bytes: backup.bytes,
          file: backup.file,
        }
      : null,
    reachable: server !== undefined,
    ...(tampered ? { error: `tenant "${t.slug}": ${tampered.message}; not read` } : {}),
    ...(missing
      ? {
          error: `tenant "${t.slug}": the admin of server "${t.server_name}" lacks a privilege stats needs: ${missing}; not read`,
          missingPrivilege: missing,
        }
      : {}),
  };
}

function statsTotals(rows: TenantStats[]): StatsResult['totals'] {
  const sum = (pick: (t: TenantStats) => number | null) => rows.reduce((total, t) => total + (pick(t) ?? 0), 0);
  return {
    tenants: rows.length,
    sizeBytes: sum((t) => t.sizeBytes),
    tables: sum((t) => t.tables),
    rows: sum((t) => t.rows),
    connections: sum((t) => t.connections),
    withPendingMigrations: rows.filter((t) => (t.pendingMigrations ?? 0) > 0).length,
    withoutBackup: rows.filter((t) => !t.lastBackup).length,
    tampered: rows.filter((t) => t.error && !t.missingPrivilege).length,
    denied: rows.filter((t) => t.missingPrivilege).length,
  };
}
