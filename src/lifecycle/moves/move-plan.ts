import type { Context, ServerHandle } from '../../context/context.js';
import { NotFoundError, UsageError } from '../../core/errors.js';
import { latestGoodBackup } from '../../registry/backups-repo.js';
import { findServerRow } from '../../registry/servers-repo.js';
import type { TenantRow } from '../../registry/tenants-repo.js';
import { formatBytes } from '../../core/format-bytes.js';
import { freeBytesAt, nextDumpBytes } from '../shared/backup-space.js';
import { placeTenant } from '../servers/place-tenant.js';
import { tenantNames } from '../shared/tenant-names.js';
import { usersOf, dumpToolsFrom } from '../../engines/engine-driver.js';

/** What a move will do, found out without changing anything (the preflight, and `--dry-run`). */
export interface MovePlan {
  source: string;
  target: string;
  /** Why this target, in one line. */
  reason: string;
  engine: string;
  /** How it runs: `online` (replication; fenced for the last catch-up) or `offline` (fenced for the whole copy). */
  mode: 'online' | 'offline';
  /** Why that mode, in words: what the source allows, or which setting stops the online move. */
  modeReason: string;
  /** The source database's size on disk, in bytes. */
  sizeBytes: number | null;
  /** Fence to unfence, estimated from what will run while fenced; null when nothing to estimate from. */
  expectedDowntimeMs: number | null;
  /** How the estimate was made, in words. */
  estimate: string;
  targetDatabase: string;
  targetUser: string | null;
  /** Room for the copy's dump in the backup directory (it is written there before the restore). */
  dumpSpace: DumpSpace;
  /** What stops the move (names taken on the target, dump tools missing); empty when it can go. */
  problems: string[];
}

export interface DumpSpace {
  directory: string;
  /** Free bytes there for this user; null when the file system does not say. */
  freeBytes: number | null;
  /** About what the dump will take: its last backup plus a margin, else the database's size on disk. */
  neededBytes: number | null;
  /** Where neededBytes comes from, in words. */
  basis: string;
}

/**
 * Restore and verify each take about as long as the dump again, so the tenant is fenced about
 * three times as long as its last backup took.
 */
const DOWNTIME_PER_BACKUP = 3;

/** Offline without a backup to scale from: ~90 s per GB fenced (measured: 14.1 s for 171 MB). */
const OFFLINE_MS_PER_BYTE = 14_100 / 171e6;
/**
 * Online, the fence holds the last catch-up (what the tenant wrote in the last moments: well
 * under a second), the sequences, and every table's rows counted again on both sides (the
 * content was compared before the fence, in the `compare` step): one scan without hashing,
 * ~1 GB/s on PostgreSQL, ~0.4 GB/s on MariaDB (measured).
 */
const ONLINE_FIXED_MS = 500;
const ONLINE_COUNT_MS_PER_BYTE = 1 / 1e6;

/** How a move is asked to run: `--offline`, or the `moveMode` setting (`auto`: offline where online cannot). */
export interface ModeRequest {
  offline?: boolean;
}

/**
 * The preflight: both servers reachable, the same engine (else UsageError, exit 2, before
 * anything is touched), the target able to take the tenant (placement's rules: not draining,
 * below capacity, never the tenant's own server), the tenant's names free there, dump tools
 * present and new enough for both servers.
 */
export async function planMove(
  ctx: Context,
  tenant: TenantRow,
  to: string | undefined,
  request: ModeRequest = {},
): Promise<MovePlan> {
  const registry = await ctx.registry();
  const source = await ctx.server(tenant.server_id);
  const engine = source.connection.driver.engine;
  if (to) {
    const named = await findServerRow(registry.knex, { name: to });
    if (!named || named.status === 'removed')
      throw new NotFoundError(`no server "${to}" in the registry (see: tenantctl server list)`);
    if (named.engine !== engine)
      throw new UsageError(
        `tenant "${tenant.slug}" is on ${engine} server "${source.row.name}"; server "${to}" runs ${named.engine}: a move stays on one engine`,
      );
  }
  const placed = await placeTenant(ctx, { server: to, exclude: tenant.server_id, engine });
  const target = placed.server;
  const names = tenantNames(ctx.config, target.connection.driver, tenant.slug, JSON.parse(tenant.metadata));

  const problems: string[] = [];
  const [dbTaken, userTaken, sourceTools, targetTools, sizes] = await Promise.all([
    target.connection.databaseExists(names.database),
    names.user ? usersOf(target.connection).userExists(names.user) : false,
    source.connection.checkDumpTools(dumpToolsFrom(ctx.config)),
    target.connection.checkDumpTools(dumpToolsFrom(ctx.config)),
    source.connection.databaseSizes([tenant.database_name]),
  ]);
  if (dbTaken) problems.push(`database "${names.database}" already exists on server "${target.row.name}"`);
  if (userTaken) problems.push(`database user "${names.user}" already exists on server "${target.row.name}"`);
  if (sourceTools) problems.push(`dump tools for server "${source.row.name}": ${sourceTools}`);
  if (targetTools && targetTools !== sourceTools)
    problems.push(`dump tools for server "${target.row.name}": ${targetTools}`);

  const sizeBytes = sizes.get(tenant.database_name) ?? null;
  const chosen = await chooseMode(ctx, tenant, source, target, request);
  if (chosen.problem) problems.push(chosen.problem);
  const last = await latestGoodBackup(registry.knex, tenant.slug);
  // The tenant is fenced while the dump is written: a full disk found out then costs downtime.
  const dumpSpace = await spaceForDump(ctx.config.backupDir, last?.bytes ?? null, sizeBytes);
  if (
    (chosen.mode === 'offline' || source.connection.onlineMoves?.dumpsInitialCopy) &&
    dumpSpace.freeBytes !== null &&
    dumpSpace.neededBytes !== null &&
    dumpSpace.freeBytes < dumpSpace.neededBytes
  )
    problems.push(
      `only ${formatBytes(dumpSpace.freeBytes)} free in ${dumpSpace.directory}; the copy's dump needs about ` +
        `${formatBytes(dumpSpace.neededBytes)} (${dumpSpace.basis})`,
    );
  const { expectedDowntimeMs, estimate } = estimateDowntime(chosen.mode, sizeBytes, last);
  return {
    source: source.row.name,
    target: target.row.name,
    reason: placed.reason,
    engine,
    mode: chosen.mode,
    modeReason: chosen.reason,
    sizeBytes,
    expectedDowntimeMs,
    estimate,
    targetDatabase: names.database,
    targetUser: names.user,
    dumpSpace,
    problems,
  };
}

/**
 * Free space where the dump goes, against its likely size: the last backup's (plus a margin for
 * growth), or without one the database's size on disk, which a dump rarely exceeds.
 */
async function spaceForDump(
  backupDir: string,
  lastBackupBytes: number | null,
  sizeBytes: number | null,
): Promise<DumpSpace> {
  const [neededBytes, basis] =
    lastBackupBytes !== null
      ? [nextDumpBytes(lastBackupBytes), "the tenant's last backup, plus 10%"]
      : [sizeBytes, "the database's size on disk: no backup yet; a backup first gives a closer estimate"];
  return { directory: backupDir, freeBytes: await freeBytesAt(backupDir), neededBytes, basis };
}

/**
 * Online wherever the source (and target) allow it. Where they do not: offline with `--offline`
 * or `moveMode: auto`; otherwise a problem naming the setting (the move is refused). An engine
 * tenantctl has no online move for moves offline, saying so.
 */
async function chooseMode(
  ctx: Context,
  tenant: TenantRow,
  source: ServerHandle,
  target: ServerHandle,
  request: ModeRequest,
): Promise<{ mode: 'online' | 'offline'; reason: string; problem?: string }> {
  if (request.offline) return { mode: 'offline', reason: '--offline: fenced for the whole dump and restore' };
  const online = source.connection.onlineMoves;
  if (!online || !target.connection.onlineMoves)
    return { mode: 'offline', reason: `tenantctl has no online move for ${source.connection.driver.engine} yet` };
  const blockers = [
    ...(tenant.database_user ? [] : ['the tenant has no database user of its own (tenantUsers: false)']),
    ...(await online.sourceBlockers()).map((b) => `server "${source.row.name}": ${b}`),
    ...(await target.connection.onlineMoves.targetBlockers(source.connection)).map(
      (b) => `server "${target.row.name}": ${b}`,
    ),
  ];
  if (!blockers.length)
    return {
      mode: 'online',
      reason: `both servers allow it: ${online.method}, fenced only for the last catch-up`,
    };
  const why = `an online move is not possible: ${blockers.join('; ')}`;
  if (ctx.config.moveMode === 'auto') return { mode: 'offline', reason: `${why} (moveMode: auto moves it offline)` };
  return {
    mode: 'offline',
    reason: why,
    problem: `${why}; pass --offline (or set moveMode: auto) to move it offline, fenced for the whole copy`,
  };
}

/** Fence to unfence, from what will run inside the fence. */
function estimateDowntime(
  mode: 'online' | 'offline',
  sizeBytes: number | null,
  last: { duration_ms: number | null; bytes: number | null; started_at: string } | undefined,
): { expectedDowntimeMs: number | null; estimate: string } {
  if (mode === 'online') {
    if (sizeBytes === null) return { expectedDowntimeMs: null, estimate: "the source's size is unknown" };
    return {
      expectedDowntimeMs: Math.round(ONLINE_FIXED_MS + sizeBytes * ONLINE_COUNT_MS_PER_BYTE),
      estimate: `the last catch-up and sequences (~${ONLINE_FIXED_MS} ms), then rows counted while fenced (${formatBytes(sizeBytes)} read on each side; the content is compared before the fence)`,
    };
  }
  if (sizeBytes !== null && last?.duration_ms && last.bytes) {
    // The backup's speed, applied to today's size: an old backup of a small tenant says little.
    const ms = Math.round(last.duration_ms * DOWNTIME_PER_BACKUP * Math.max(1, sizeBytes / last.bytes));
    return {
      expectedDowntimeMs: ms,
      estimate: `${DOWNTIME_PER_BACKUP}× the last backup's time (${last.duration_ms} ms for ${formatBytes(last.bytes)}, ${last.started_at}), scaled to the current size ${formatBytes(sizeBytes)}: dump, restore and verify`,
    };
  }
  if (sizeBytes === null) return { expectedDowntimeMs: null, estimate: "the source's size is unknown" };
  return {
    expectedDowntimeMs: Math.round(sizeBytes * OFFLINE_MS_PER_BYTE),
    estimate: `the current size ${formatBytes(sizeBytes)} at ~90 s per GB (dump, restore and verify, measured)`,
  };
}
