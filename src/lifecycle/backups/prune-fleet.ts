import type { Context } from '../../context/context.js';
import { UsageError } from '../../core/errors.js';
import { listTenantRows } from '../../registry/tenants-repo.js';
import { eraseDeletedTenantBackups, type ErasureResult } from './erase-backups.js';
import { pruneBackups, type PruneResult, type RetentionPolicy } from './prune-backups.js';

export interface PruneFleetInput {
  /** Applied to every tenant's backups (deleted tenants' aside: `deleted` is their policy). */
  policy: RetentionPolicy;
  /** Erase the backups of tenants deleted more than `deletedRetentionDays` ago. */
  deleted?: boolean;
}

export interface PruneFleetResult {
  pruned: PruneResult;
  erased?: ErasureResult;
}

/**
 * `backups prune`: retention without taking a backup (`backup --all` applies the same after its
 * dumps). The policy goes over every tenant that is not deleted; `deleted` erases the backups
 * kept past `deletedRetentionDays`.
 */
export async function pruneFleetBackups(ctx: Context, input: PruneFleetInput): Promise<PruneFleetResult> {
  const { keep, keepDays } = input.policy;
  if (keep === undefined && keepDays === undefined && !input.deleted)
    throw new UsageError('backups prune: give --keep, --keep-days or --deleted');
  const registry = await ctx.registry();
  const live = (await listTenantRows(registry.knex)).filter((t) => t.status !== 'deleted');
  const pruned = await pruneBackups(
    ctx,
    live.map((t) => t.slug),
    input.policy,
  );
  return { pruned, ...(input.deleted ? { erased: await eraseDeletedTenantBackups(ctx, {}) } : {}) };
}
