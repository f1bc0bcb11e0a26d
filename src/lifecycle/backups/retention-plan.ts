import type { RetentionPolicy } from './prune-backups.js';

/** The fields of a backup record that retention looks at. */
export interface RetainedBackup {
  id: number;
  status: string;
  /** ISO time; compared as text, which orders ISO times correctly. */
  started_at: string;
}

/**
 * Which of one tenant's backups (newest first) a policy removes. A good backup goes only if every
 * given rule lets it go (beyond the newest `keep`, older than `keepDays` before `at`); the newest
 * good one always stays. Failed records older than the newest good backup go too.
 */
export function retentionPlan<T extends RetainedBackup>(
  backups: T[],
  policy: RetentionPolicy,
  at: Date,
): { doomed: T[]; staleFailures: T[] } {
  if (policy.keep === undefined && policy.keepDays === undefined) return { doomed: [], staleFailures: [] };
  const cutoff =
    policy.keepDays === undefined ? undefined : new Date(at.getTime() - policy.keepDays * 86_400_000).toISOString();
  const good = backups.filter((b) => b.status === 'ok');
  const doomed = good.filter((b, index) => {
    if (index === 0) return false;
    const beyondCount = policy.keep === undefined || index >= policy.keep;
    const tooOld = cutoff === undefined || b.started_at < cutoff;
    return beyondCount && tooOld;
  });
  const newestGood = good[0];
  const staleFailures = backups.filter(
    (b) => (b.status === 'failed' || b.status === 'interrupted') && newestGood !== undefined && b.id < newestGood.id,
  );
  return { doomed, staleFailures };
}
