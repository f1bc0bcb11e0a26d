import { storeOf } from '../../backup-store/index.js';
import type { Context } from '../../context/context.js';
import { UsageError } from '../../core/errors.js';
import { deleteBackupRows, listBackupRows, type BackupRow } from '../../registry/backups-repo.js';
import { retentionPlan } from './retention-plan.js';

export interface RetentionPolicy {
  /** Keep this many newest good backups per tenant. */
  keep?: number;
  /** Keep good backups younger than this many days. */
  keepDays?: number;
}

export interface PruneResult {
  /** Backup files removed, with their records. */
  removed: Array<{ slug: string; file: string; startedAt: string }>;
  /** Records of failed and interrupted backups removed (they have no file). */
  failedRecordsRemoved: number;
}

/**
 * Applies a retention policy to each of the given tenants' backups. A good backup goes only if
 * every given rule lets it go (beyond the newest `keep`, older than `keepDays`); the newest good
 * one always stays. Failed and interrupted records older than the newest good backup go too.
 */
export async function pruneBackups(
  ctx: Context,
  slugs: string[],
  policy: RetentionPolicy,
  at = new Date(),
): Promise<PruneResult> {
  if (policy.keep === undefined && policy.keepDays === undefined) return { removed: [], failedRecordsRemoved: 0 };
  if (policy.keep !== undefined && policy.keep < 1)
    throw new UsageError('--keep must be at least 1: the newest good backup is never pruned');
  // No tenants is none: an empty list must not read as "every backup" (listBackupRows' filter).
  if (slugs.length === 0) return { removed: [], failedRecordsRemoved: 0 };
  const registry = await ctx.registry();
  const result: PruneResult = { removed: [], failedRecordsRemoved: 0 };
  const rows = await listBackupRows(registry.knex, { slugs });
  const bySlug = new Map<string, BackupRow[]>();
  for (const row of rows) bySlug.set(row.slug, [...(bySlug.get(row.slug) ?? []), row]);

  for (const backups of bySlug.values()) {
    const { doomed, staleFailures } = retentionPlan(backups, policy, at); // rows come newest first
    for (const b of doomed) await storeOf(ctx.config, b.file).remove(b.file);
    await deleteBackupRows(
      registry.knex,
      [...doomed, ...staleFailures].map((b) => b.id),
    );
    result.removed.push(...doomed.map((b) => ({ slug: b.slug, file: b.file, startedAt: b.started_at })));
    result.failedRecordsRemoved += staleFailures.length;
  }
  return result;
}
