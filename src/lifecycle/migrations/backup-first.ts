import type { Context } from '../../context/context.js';
import { errorMessage } from '../../core/errors.js';
import type { TenantWithServer } from '../../registry/tenants-repo.js';
import { backupTenant } from '../backups/backup-tenants.js';
import type { BackupTaken, Settled } from './fleet-types.js';

/**
 * `--backup-first`: the tenant's backup, taken (recorded and checked whole like any backup) by
 * the worker that holds its lock, once it is known to have migrations pending and before the
 * first of them runs, so nothing changes the database between the two. A backup that fails is
 * the tenant's failure: it is not migrated, and the outcome says why.
 */
export async function backupBeforeMigrating(
  ctx: Context,
  tenant: TenantWithServer,
  cut: AbortSignal | undefined,
): Promise<{ taken: BackupTaken } | { failed: Settled }> {
  try {
    const backup = await backupTenant(ctx, tenant, cut);
    return { taken: { id: backup.id, file: backup.file, bytes: backup.bytes } };
  } catch (error) {
    const cause = (error as Error).cause ?? error;
    return {
      failed: {
        outcome: 'failed',
        migrations: [],
        error: `backup before migrating failed (--backup-first): ${errorMessage(cause)}; not migrated`,
        durationMs: 0,
      },
    };
  }
}
