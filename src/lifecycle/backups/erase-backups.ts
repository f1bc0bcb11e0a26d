import { storeOf } from '../../backup-store/index.js';
import type { Context } from '../../context/context.js';
import { errorMessage } from '../../core/errors.js';
import { deleteBackupRows, listDeletedTenantBackupRows, type BackupRow } from '../../registry/backups-repo.js';
import { recordAudit } from '../registry/audit-log.js';

/** Why a deleted tenant's backups went: kept as long as the policy says, or erased at once on request. */
export type ErasureReason = 'retention' | 'purge';

/** One deleted tenant whose backups were erased. */
export interface ErasedTenantBackups {
  slug: string;
  /** When the tenant was deleted. */
  deletedAt: string;
  /** Backup files removed (with their records); failed records have no file and count in `records`. */
  files: string[];
  records: number;
  /** Files that could not be removed: their records stay, so the next run tries again. */
  failed?: Array<{ file: string; error: string }>;
}

export interface ErasureResult {
  reason: ErasureReason;
  tenants: ErasedTenantBackups[];
}

/** The cutoff before which a tenant's delete puts its backups past `deletedRetentionDays`. */
export function retentionCutoff(retentionDays: number, at: Date): string {
  return new Date(at.getTime() - retentionDays * 86_400_000).toISOString();
}

/**
 * Erases the backups of deleted tenants: with `tenantId`, all of that tenant's at once (`delete
 * --purge-backups`); without, those whose tenant was deleted more than `deletedRetentionDays`
 * ago. Files go first, then their records; each tenant's erasure is written to the audit log
 * (what went, and when the tenant was deleted), so an erasure request can be shown to be done.
 */
export async function eraseDeletedTenantBackups(
  ctx: Context,
  which: { tenantId: number } | { at?: Date },
): Promise<ErasureResult> {
  const registry = await ctx.registry();
  const reason: ErasureReason = 'tenantId' in which ? 'purge' : 'retention';
  const rows = await listDeletedTenantBackupRows(
    registry.knex,
    'tenantId' in which
      ? { tenantId: which.tenantId }
      : { deletedBefore: retentionCutoff(ctx.config.deletedRetentionDays, which.at ?? new Date()) },
  );
  const byTenant = new Map<string, BackupRow[]>();
  for (const row of rows) {
    const key = `${row.tenant_id}`;
    byTenant.set(key, [...(byTenant.get(key) ?? []), row]);
  }
  const tenants: ErasedTenantBackups[] = [];
  for (const backups of byTenant.values()) tenants.push(await eraseOne(ctx, backups, reason));
  return { reason, tenants };
}

/** One tenant's backups: each file removed, then the records of those that went, then the audit entry. */
async function eraseOne(ctx: Context, backups: BackupRow[], reason: ErasureReason): Promise<ErasedTenantBackups> {
  const registry = await ctx.registry();
  const gone: BackupRow[] = [];
  const failed: Array<{ file: string; error: string }> = [];
  for (const backup of backups) {
    try {
      // Failed and interrupted backups left no file; force: one removed by hand is gone already.
      await storeOf(ctx.config, backup.file).remove(backup.file);
      gone.push(backup);
    } catch (error) {
      failed.push({ file: backup.file, error: errorMessage(error) });
    }
  }
  await deleteBackupRows(
    registry.knex,
    gone.map((b) => b.id),
  );
  const erased: ErasedTenantBackups = {
    slug: backups[0]!.slug,
    deletedAt: backups[0]!.tenant_deleted_at!,
    files: gone.filter((b) => b.status === 'ok').map((b) => b.file),
    records: gone.length,
    ...(failed.length ? { failed } : {}),
  };
  await recordAudit(ctx, {
    command: 'erase-backups',
    arguments: [],
    tenant: erased.slug,
    outcome: failed.length ? 'failed' : 'ok',
    ...(failed.length ? { error: `${failed.length} backup files could not be removed` } : {}),
    detail: { reason, deletedAt: erased.deletedAt, files: erased.files, records: erased.records, failed },
  });
  return erased;
}
