import { configuredStore } from '../../backup-store/index.js';
/** Doctor's checks on each tenant's migrations and backups, and on the room left for the next round of backups. */
import type { Context } from '../../context/context.js';
import { formatBytes } from '../../core/format-bytes.js';
import { latestGoodBackup } from '../../registry/backups-repo.js';
import { latestOutcomes } from '../../registry/runs-repo.js';
import { REGISTRY_SLUG } from '../backups/backup-tenants.js';
import { freeBytesAt, nextDumpBytes } from '../shared/backup-space.js';
import { tenantStats } from '../tenants/tenant-stats.js';
import { examineRetention } from './examine-retention.js';
import type { FleetView } from './fleet-view.js';
import type { FindingList, NewFinding } from './findings.js';

/** Migrations and backups, from the same bulk reads as `stats`. */
export async function examineHealth(
  ctx: Context,
  fleet: FleetView,
  backupMaxAgeHours: number,
  list: FindingList,
): Promise<void> {
  const stats = await tenantStats(ctx, fleet.only ? { slugs: [fleet.only] } : {}, {});
  const outcomes = await latestOutcomes(fleet.registry.knex, 'migrate');
  const maxAge = backupMaxAgeHours * 3600;
  const ageOf = (iso: string) => (Date.now() - Date.parse(iso)) / 1000;
  const rows = new Map(fleet.rows.map((r) => [r.slug, r]));
  for (const s of stats.tenants) {
    if (s.sizeBytes === null) continue; // reported as missing by the server checks
    const row = rows.get(s.slug)!;
    if (s.error) {
      list.add({ kind: 'tampered_migrations', tenant: s.slug, server: s.server, message: s.error });
    } else if (outcomes.get(row.id)?.outcome === 'failed') {
      list.add({
        kind: 'failed_migration',
        tenant: s.slug,
        server: s.server,
        message: `last migration run failed: ${outcomes.get(row.id)!.error ?? ''}`,
      });
    } else if ((s.pendingMigrations ?? 0) > 0) {
      list.add({
        kind: 'pending_migrations',
        tenant: s.slug,
        server: s.server,
        message: `${s.pendingMigrations} pending migrations`,
      });
    }
    // A tenant younger than the maximum age has no backup due yet: a notice, not a problem.
    if (!s.lastBackup) {
      const young = ageOf(row.created_at) <= maxAge;
      list.add({
        kind: 'no_backup',
        severity: young ? 'notice' : 'problem',
        tenant: s.slug,
        server: s.server,
        message: young ? 'not backed up yet (first backup due within the maximum age)' : 'never backed up',
      });
    } else if (s.lastBackup.ageSeconds > maxAge) {
      list.add({
        kind: 'stale_backup',
        tenant: s.slug,
        server: s.server,
        message: `last backup is ${Math.round(s.lastBackup.ageSeconds / 3600)} hours old`,
      });
    }
  }
  // One tenant examined: the fleet's backup room and deleted tenants' backups are not its health.
  if (fleet.only) return;
  const space = await backupSpaceFinding(ctx, stats.tenants);
  if (space) list.add(space);
  await examineRetention(ctx, list);
}

/**
 * Whether the backup directory holds another round of backups: every tenant's last dump and the
 * registry's, plus growth. Found before the nightly `backup --all` fills the disk, not by it.
 */
async function backupSpaceFinding(
  ctx: Context,
  tenants: ReadonlyArray<{ lastBackup: { bytes: number | null } | null }>,
): Promise<NewFinding | undefined> {
  // An S3 store has no free space to run out of: it must be reachable and writable.
  const store = configuredStore(ctx.config);
  if (store.kind !== 'local') {
    const problem = await store.probe();
    return problem
      ? {
          kind: 'backup_store',
          target: { type: 'store', location: store.root },
          tenant: null,
          server: null,
          message: `the backup store cannot be used: ${problem}`,
        }
      : undefined;
  }
  const registry = await ctx.registry();
  const registryBackup = await latestGoodBackup(registry.knex, REGISTRY_SLUG);
  const lastDumps = tenants.reduce((sum, t) => sum + (t.lastBackup?.bytes ?? 0), registryBackup?.bytes ?? 0);
  if (lastDumps === 0) return undefined;
  const directory = store.root;
  const [free, needed] = [await freeBytesAt(directory), nextDumpBytes(lastDumps)];
  if (free === null || free >= needed) return undefined;
  return {
    kind: 'backup_space',
    target: { type: 'directory', path: directory },
    tenant: null,
    server: null,
    message: `only ${formatBytes(free)} free in ${directory}; backing up every tenant again needs about ${formatBytes(needed)} (their last backups, plus 10%)`,
  };
}
