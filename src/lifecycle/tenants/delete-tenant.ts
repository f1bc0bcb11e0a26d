import type { Context } from '../../context/context.js';
import { ConflictError, OperationError, errorMessage } from '../../core/errors.js';
import { clearMetadataIndex } from '../../registry/metadata-index-repo.js';
import { deleteTenantRow, updateTenantRow, type Tenant, type TenantStatus } from '../../registry/tenants-repo.js';
import { backupTenant, type Backup } from '../backups/backup-tenants.js';
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
  /** Say what would be done; do nothing. */
  dryRun?: boolean;
}

/** The steps of `delete`, in order; each is recorded in the registry (`step`) before it runs. */
export const DELETE_STEPS = ['backup', 'connections', 'database', 'user'] as const;
export type DeleteStep = (typeof DELETE_STEPS)[number] | 'purge';

export interface DeleteResult {
  slug: string;
  /** The tenant's record afterwards; null once purged. */
  tenant: Tenant | null;
  /** The steps run (or, for a dry run, that would run). */
  steps: DeleteStep[];
  backup: Backup | null;
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
  const wantBackup = options.backup !== false;
  const base = { slug, backup: null, resumed: row.status === 'deleting', dryRun: Boolean(options.dryRun) };

  if (row.status === 'deleted') {
    const steps: DeleteStep[] = options.purge ? ['purge'] : [];
    if (options.purge && !options.dryRun) {
      const registry = await ctx.registry();
      await clearMetadataIndex(registry.knex, row.id);
      await deleteTenantRow(registry.knex, row.id);
    }
    return {
      ...base,
      tenant: options.purge && !options.dryRun ? null : await reloadTenant(ctx, slug),
      steps,
      purged: Boolean(options.purge) && !options.dryRun,
      alreadyDeleted: true,
    };
  }
  assertNotMoving(row, 'deleted');
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
    ...(options.purge ? (['purge'] as const) : []),
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
      onStep(step);
      if (step === 'purge') break;
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
    if (options.purge) await deleteTenantRow(registry.knex, fresh.id);
    return {
      ...base,
      tenant: options.purge ? null : await reloadTenant(ctx, slug),
      steps,
      backup,
      purged: Boolean(options.purge),
      alreadyDeleted: false,
    };
  });
}

/** Ending the connections of a user or file that is already gone is no failure. */
function ignoreIfGone(server: ServerConnection): (error: unknown) => boolean {
  return (error) => {
    if (server.driver.isGoneError(error)) return false;
    throw error;
  };
}
