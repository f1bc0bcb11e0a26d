/** Doctor's check that deleted tenants' backups are not kept past `deletedRetentionDays`. */
import type { Context } from '../../context/context.js';
import { listDeletedTenantBackupRows, type BackupRow } from '../../registry/backups-repo.js';
import { retentionCutoff } from '../backups/erase-backups.js';
import type { FindingList } from './findings.js';

/**
 * One finding per deleted tenant whose backups outlived the policy: an erasure owed (the next
 * `backup --all` or `backups prune --deleted` does it), or one that failed to remove the files.
 */
export async function examineRetention(ctx: Context, list: FindingList, at = new Date()): Promise<void> {
  const registry = await ctx.registry();
  const days = ctx.config.deletedRetentionDays;
  const rows = await listDeletedTenantBackupRows(registry.knex, { deletedBefore: retentionCutoff(days, at) });
  const byTenant = new Map<string, BackupRow[]>();
  for (const row of rows) byTenant.set(`${row.tenant_id}`, [...(byTenant.get(`${row.tenant_id}`) ?? []), row]);
  for (const backups of byTenant.values()) {
    const { slug, tenant_deleted_at: deletedAt } = backups[0]!;
    list.add({
      kind: 'backups_past_retention',
      tenant: slug,
      server: null,
      message: `${backups.length} backup records of tenant ${slug}, deleted ${deletedAt!.slice(0, 10)}, are kept past deletedRetentionDays (${days})`,
    });
  }
}
