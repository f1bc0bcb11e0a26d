import type { Context } from '../../context/context.js';
import { ConflictError, OperationError, errorMessage } from '../../core/errors.js';
import { clearMetadataIndex } from '../../registry/metadata-index-repo.js';
import { markBackupsOfDeletedTenant } from '../../registry/backups-repo.js';
import {
  deleteTenantRow,
  now,
  updateTenantRow,
  type Tenant,
  type TenantRow,
  type TenantStatus,
} from '../../registry/tenants-repo.js';
import { backupTenant, type Backup } from '../backups/backup-tenants.js';
import { eraseDeletedTenantBackups, type ErasedTenantBackups } from '../backups/erase-backups.js';
import { loadTenantRow, reloadTenant } from '../shared/load-tenant.js';
import { withTenantLock } from '../shared/tenant-lock.js';
import { assertNotMoving } from '../shared/tenant-moving.js';
import { assertTenantCodeTrusted } from '../shared/tenant-login.js';
import { usersOf, type ServerConnection } from '../../engines/engine-driver.js';

export interface DeleteOptions {
  /** Take a final backup first and refuse to drop anything if it fails. Default true. */
  backup?: boolean;
  /** Remove the registry row too (history stays in the audit log and backup records). */
  purge?: boolean;
  /**
   * Erase every backup of the tenant now (an erasure request) instead of keeping them
   * `deletedRetentionDays`; no final backup is taken. Recorded in the audit log.
   */
  purgeBackups?: boolean;
  /** Say what would be done; do nothing. */
  dryRun?: boolean;
}

/** The steps of `delete`, in order; each is recorded in the registry (`step`) before it runs. */
export const DELETE_STEPS = ['backup', 'connections', 'database', 'user'] as const;
/** After the tenant is deleted: `erase_backups` (--purge-backups), then `purge` (its row). */
export type DeleteStep = (typeof DELETE_STEPS)[number] | 'erase_backups' | 'purge';

export interface DeleteResult {
  slug: string;
  /** The tenant's record afterwards; null once purged. */
  tenant: Tenant | null;
  /** The steps run (or, for a dry run, that would run). */
  steps: DeleteStep[];
  backup: Backup | null;
  /** `purgeBackups`: the backups erased (none when it had none). */
  erasedBackups?: ErasedTenantBackups;
  purged: boolean;
  /** True when there was nothing left to do. */
  alreadyDeleted: boolean;
  /** True when this run finished a delete that an earlier, interrupted one started. */
  resumed: boolean;
  dryRun: boolean;
}

const DELETABLE: TenantStatus[] = ['active', 'suspended', 'failed', 'provisioning', 'deleting'];

/**
 * Deletes a tenant: `deleting` → final backup → end open connections → drop database → drop
 * user → `deleted`. Every step is recorded before it runs and is safe to repeat, so a delete
 * killed at any point is finished by running it again; the row outlives the database, never the
 * other way round. A failed backup stops the delete before anything is dropped.
 */
export async function deleteTenant(
  ctx: Context,
  slug: string,
  options: DeleteOptions,
  onStep: (step: DeleteStep) => void = () => {},
): Promise<DeleteResult> {
  const row = await loadTenantRow(ctx, slug);
  // Backups about to be erased need no final one.
  const wantBackup = options.backup !== false && !options.purgeBackups;
  const base = { slug, backup: null, resumed: row.status === 'deleting', dryRun: Boolean(options.dryRun) };

  if (row.status === 'deleted') return alreadyDeleted(ctx, row, options, base);
  assertNotMoving(row, 'deleted');
  // An adopt under way may not have given the database to the tenant yet: finish it first.
  if (row.status === 'adopting')
    throw new ConflictError(
      `tenant "${slug}" is being adopted: finish it with tenantctl adopt ${slug}, then delete it`,
    );
  if (!DELETABLE.includes(row.status))
    throw new ConflictError(`tenant "${slug}" is ${row.status}: it cannot be deleted`);

  const server = (await ctx.server(row.server_id)).connection;
  const hasDatabase = await server.databaseExists(row.database_name);
  const backupDone = row.status === 'deleting' && row.step !== null && row.step !== 'backup';
  const steps: DeleteStep[] = [
    ...(wantBackup && hasDatabase && !backupDone ? (['backup'] as const) : []),
    'connections',
    'database',
    'user',
    ...afterDelete(options),
  ];
  if (options.dryRun)
    return { ...base, tenant: await reloadTenant(ctx, slug), steps, purged: false, alreadyDeleted: false };
  // The final backup dumps the tenant's database as its own user; without one, only if trusted.
  if (steps.includes('backup')) await assertTenantCodeTrusted(ctx, [row], 'delete (its final backup)');

  return withTenantLock(ctx, slug, async () => {
    const registry = await ctx.registry();
    const fresh = await loadTenantRow(ctx, slug);
    // Where to return if the final backup fails: the status before this (or an earlier) delete.
    const previous = fresh.status === 'deleting' ? (fresh.previous_status ?? 'suspended') : fresh.status;
    const record = (step: DeleteStep) =>
      updateTenantRow(registry.knex, fresh.id, {
        status: 'deleting',
        step,
        previous_status: previous,
        status_reason: `deleting (was ${previous})`,
      });
    let backup: Backup | null = null;

    for (const step of steps) {
      if (step === 'erase_backups' || step === 'purge') break; // once deleted, below
      onStep(step);
      await record(step);
      try {
        if (step === 'backup') backup = await backupTenant(ctx, fresh);
        if (step === 'connections')
          await server.suspendAccess(fresh.database_name, fresh.database_user).catch(ignoreIfGone(server));
        if (step === 'database') await server.dropDatabase(fresh.database_name);
        if (step === 'user' && fresh.database_user) await usersOf(server).dropUser(fresh.database_user);
      } catch (error) {
        if (step === 'backup') {
          await updateTenantRow(registry.knex, fresh.id, {
            status: previous,
            step: null,
            previous_status: null,
            status_reason: fresh.status === 'deleting' ? null : fresh.status_reason,
            last_error: `delete: final backup failed: ${errorMessage(error)}`,
          });
          throw new OperationError(
            slug,
            'backup',
            (error as Error).cause ?? error,
            'nothing was deleted; fix the backup or use --no-backup',
          );
        }
        await updateTenantRow(registry.knex, fresh.id, { last_error: `delete: ${step}: ${errorMessage(error)}` });
        throw new OperationError(slug, step, error, 'run delete again to finish');
      }
    }
    await clearMetadataIndex(registry.knex, fresh.id);
    await updateTenantRow(registry.knex, fresh.id, {
      status: 'deleted',
      step: null,
      previous_status: null,
      status_reason: null,
      password_enc: null,
      password_pending_enc: null,
      last_error: null,
    });
    await markBackupsOfDeletedTenant(registry.knex, fresh.id, now());
    const after = await finishDeleted(ctx, fresh, options, onStep);
    return { ...base, ...after, steps, backup, alreadyDeleted: false };
  });
}

/** The steps after the tenant is deleted, as asked. */
function afterDelete(options: DeleteOptions): DeleteStep[] {
  return [
    ...(options.purgeBackups ? (['erase_backups'] as const) : []),
    ...(options.purge ? (['purge'] as const) : []),
  ];
}

/** What is left once the tenant is deleted: its backups erased (--purge-backups), its row removed (--purge). */
async function finishDeleted(
  ctx: Context,
  row: TenantRow,
  options: DeleteOptions,
  onStep: (step: DeleteStep) => void,
): Promise<Pick<DeleteResult, 'tenant' | 'erasedBackups' | 'purged'>> {
  const registry = await ctx.registry();
  let erasedBackups: ErasedTenantBackups | undefined;
  if (options.purgeBackups) {
    onStep('erase_backups');
    const erased = await eraseDeletedTenantBackups(ctx, { tenantId: row.id });
    erasedBackups = erased.tenants[0] ?? { slug: row.slug, deletedAt: row.status_changed_at, files: [], records: 0 };
    if (erasedBackups.failed?.length)
      throw new OperationError(
        row.slug,
        'erase_backups',
        new Error(erasedBackups.failed.map((f) => `${f.file}: ${f.error}`).join('; ')),
        'run delete --purge-backups again to finish',
      );
  }
  if (options.purge) {
    onStep('purge');
    await clearMetadataIndex(registry.knex, row.id);
    await deleteTenantRow(registry.knex, row.id);
  }
  return {
    tenant: options.purge ? null : await reloadTenant(ctx, row.slug),
    ...(erasedBackups ? { erasedBackups } : {}),
    purged: Boolean(options.purge),
  };
}

/** `delete` of a tenant deleted already: only what is left to do (erase its backups, purge its row). */
async function alreadyDeleted(
  ctx: Context,
  row: TenantRow,
  options: DeleteOptions,
  base: Pick<DeleteResult, 'slug' | 'backup' | 'resumed' | 'dryRun'>,
): Promise<DeleteResult> {
  const steps = afterDelete(options);
  if (options.dryRun)
    return { ...base, tenant: await reloadTenant(ctx, row.slug), steps, purged: false, alreadyDeleted: true };
  const registry = await ctx.registry();
  // Deleted by a tenantctl from before backups recorded it: their clock starts at its delete.
  await markBackupsOfDeletedTenant(registry.knex, row.id, row.status_changed_at);
  const after = await finishDeleted(ctx, row, options, () => {});
  return { ...base, ...after, steps, alreadyDeleted: true };
}

/** Ending the connections of a user or file that is already gone is no failure. */
function ignoreIfGone(server: ServerConnection): (error: unknown) => boolean {
  return (error) => {
    if (server.driver.isGoneError(error)) return false;
    throw error;
  };
}
