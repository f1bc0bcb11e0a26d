import { rmSync } from 'node:fs';
import { isS3Url, partialFileFor } from '../../backup-store/index.js';
import type { Context } from '../../context/context.js';
import { ownerState } from '../../core/process-owner.js';
import { backupOwner, listBackupRows, markBackupInterrupted, type BackupRow } from '../../registry/backups-repo.js';

export { partialFileFor };

/**
 * `running` backup records whose process is gone: a `backup`, or the final backup of a `delete`,
 * killed mid-dump. A backup running on another host is left alone (this machine cannot see its
 * process); a record from before owners were recorded counts as gone.
 */
export async function findInterruptedBackups(ctx: Context, slugs?: string[]): Promise<BackupRow[]> {
  const registry = await ctx.registry();
  const running = await listBackupRows(registry.knex, { slugs, status: 'running' });
  return running.filter((row) => {
    const owner = backupOwner(row);
    return owner === null || ownerState(owner) === 'gone';
  });
}

/**
 * Removes an interrupted backup's partial file, then marks its record `interrupted` (in that
 * order, so a kill in between leaves a record that is found again). Safe to run twice.
 */
export async function clearInterruptedBackup(ctx: Context, row: BackupRow): Promise<void> {
  const registry = await ctx.registry();
  // A local dump's partial file; an S3 upload a killed run left is aborted by doctor --fix.
  if (!isS3Url(row.file)) rmSync(partialFileFor(row.file), { force: true });
  const owner = backupOwner(row);
  const who = owner ? `the tenantctl that ran it (pid ${owner.pid} on ${owner.host})` : 'the tenantctl that ran it';
  await markBackupInterrupted(registry.knex, row.id, `interrupted: ${who} is gone; its partial file was removed`);
}

/** Finds and clears the interrupted backups of these tenants; returns how many. */
export async function clearInterruptedBackups(ctx: Context, slugs: string[]): Promise<number> {
  const rows = await findInterruptedBackups(ctx, slugs);
  for (const row of rows) await clearInterruptedBackup(ctx, row);
  return rows.length;
}
