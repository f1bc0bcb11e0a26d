import type { Context } from '../../context/context.js';
import { LockedError } from '../../core/errors.js';
import { assertNamedTenantReached, ignoreProgress, type FleetProgress } from '../../core/fleet-run.js';
import type { RunInterrupt } from '../../core/run-interrupt.js';
import { backupRegistry, backupTenants, type BackupManyResult } from './backup-tenants.js';
import { eraseDeletedTenantBackups, type ErasureResult } from './erase-backups.js';
import { pruneBackups, type PruneResult, type RetentionPolicy } from './prune-backups.js';
import type { TenantSelection } from '../shared/select-tenants.js';

export interface RunBackupsInput {
  /** Tenants to back up; undefined: none (a registry-only backup). */
  selection?: TenantSelection;
  /** Also back up the registry database. */
  registry?: boolean;
  /** Applied to the tenants backed up, afterwards. */
  policy: RetentionPolicy;
  concurrency: number;
  /** Stops the backups early (the CLI's Ctrl-C and SIGTERM): see RunInterrupt. */
  interrupt?: RunInterrupt;
}

export interface RegistryBackupOutcome {
  status: 'ok' | 'failed';
  file: string | null;
  bytes: number | null;
  error?: string;
}

export interface RunBackupsResult {
  /** Every tenant and the registry (when asked) backed up. */
  ok: boolean;
  /** Stopped by the caller (the signal): what was not started is `skipped`, and nothing was pruned. */
  interrupted?: string;
  tenants?: BackupManyResult;
  registry?: RegistryBackupOutcome;
  pruned: PruneResult;
  /** `backup --all`: deleted tenants whose backups were kept `deletedRetentionDays` and are now erased. */
  erased?: ErasureResult;
}

/**
 * What `backup` does as a whole: the selected tenants (each server within its limit), then the
 * registry, then the retention policy over the tenants that were backed up. One named tenant on
 * an unreachable server throws UnreachableError, and one another operation is working on
 * LockedError, as every one-tenant operation does. The whole fleet's run (`--all`) then erases the
 * backups of tenants deleted more than `deletedRetentionDays` ago. Interrupted, it backs up no
 * registry and prunes and erases nothing.
 */
export async function runBackups(
  ctx: Context,
  input: RunBackupsInput,
  onProgress: (progress: FleetProgress) => void = ignoreProgress,
): Promise<RunBackupsResult> {
  const tenants = input.selection
    ? await backupTenants(ctx, input.selection, input.concurrency, onProgress, input.interrupt)
    : undefined;
  const named = input.selection?.slugs?.length === 1 && !input.registry;
  if (tenants) assertNamedTenantReached(tenants, named);
  const only = named ? tenants?.tenants[0] : undefined;
  if (only?.outcome === 'busy') throw new LockedError(`tenant "${only.slug}" ${only.error ?? 'is busy'}`);
  const interrupted = tenants?.interrupted;
  if (interrupted) return { ok: false, tenants, interrupted, pruned: { removed: [], failedRecordsRemoved: 0 } };
  const registry: RegistryBackupOutcome | undefined = input.registry
    ? await backupRegistry(ctx).then(
        (b) => ({ status: 'ok' as const, file: b.file, bytes: b.bytes }),
        (error: Error) => ({ status: 'failed' as const, file: null, bytes: null, error: error.message }),
      )
    : undefined;
  const backedUp = tenants?.tenants.filter((t) => t.outcome === 'ok').map((t) => t.slug) ?? [];
  const pruned = await pruneBackups(ctx, backedUp, input.policy);
  // The whole fleet's run (cron's `backup --all`) is where deleted tenants' backups expire.
  const everyTenant = input.selection !== undefined && !input.selection.slugs?.length;
  const erased = everyTenant ? await eraseDeletedTenantBackups(ctx, {}) : undefined;
  const ok = (tenants?.ok ?? true) && (registry?.status ?? 'ok') === 'ok' && !erased?.tenants.some((t) => t.failed);
  return { ok, tenants, registry, pruned, ...(erased ? { erased } : {}) };
}
