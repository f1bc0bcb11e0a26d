import type { Context } from '../../context/context.js';
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
  /** The source database's size on disk, in bytes. */
  sizeBytes: number | null;
  /** Fence to unfence, estimated from the tenant's last backup; null without one. */
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

/**
 * The preflight: both servers reachable, the same engine (else UsageError, exit 2, before
 * anything is touched), the target able to take the tenant (placement's rules: not draining,
 * below capacity, never the tenant's own server), the tenant's names free there, dump tools
 * present and new enough for both servers.
 */
export async function planMove(ctx: Context, tenant: TenantRow, to: string | undefined): Promise<MovePlan> {
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
  const last = await latestGoodBackup(registry.knex, tenant.slug);
  // The tenant is fenced while the dump is written: a full disk found out then costs downtime.
  const dumpSpace = await spaceForDump(ctx.config.backupDir, last?.bytes ?? null, sizeBytes);
  if (dumpSpace.freeBytes !== null && dumpSpace.neededBytes !== null && dumpSpace.freeBytes < dumpSpace.neededBytes)
    problems.push(
      `only ${formatBytes(dumpSpace.freeBytes)} free in ${dumpSpace.directory}; the copy's dump needs about ` +
        `${formatBytes(dumpSpace.neededBytes)} (${dumpSpace.basis})`,
    );
  let expectedDowntimeMs: number | null = null;
  let estimate = 'no backup of this tenant yet to estimate from';
  if (last?.duration_ms) {
    expectedDowntimeMs = Math.round(last.duration_ms * DOWNTIME_PER_BACKUP);
    estimate = `${DOWNTIME_PER_BACKUP}× the last backup (${last.duration_ms} ms for ${last.bytes ?? '?'} bytes, ${last.started_at}): dump, restore and verify`;
  }
  return {
    source: source.row.name,
    target: target.row.name,
    reason: placed.reason,
    engine,
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
