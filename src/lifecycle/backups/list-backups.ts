import type { Context } from '../../context/context.js';
import { listBackupRows } from '../../registry/backups-repo.js';
import { toBackup, type Backup } from './backup-tenants.js';

/** Recorded backups, newest first; of one tenant (or `_registry`) if a slug is given. */
export async function listBackups(ctx: Context, slug: string | undefined, limit: number): Promise<Backup[]> {
  const registry = await ctx.registry();
  const rows = await listBackupRows(registry.knex, { slugs: slug ? [slug] : undefined });
  return rows.slice(0, limit).map(toBackup);
}
