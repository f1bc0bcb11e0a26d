import type { Knex } from 'knex';
import { now } from './tenants-repo.js';

const TABLE = 'tenantctl_backups';

export type BackupStatus = 'running' | 'ok' | 'failed';

export interface BackupRow {
  id: number;
  tenant_id: number | null;
  slug: string;
  status: BackupStatus;
  /** Absolute path of the backup file. */
  file: string;
  bytes: number | null;
  sha256: string | null;
  engine: string;
  server_version: string | null;
  /** The tenant's latest applied migration when the backup was taken. */
  migration: string | null;
  /** JSON: each table's exact row count when the backup was taken (see RecordedRowCounts). */
  row_counts?: string | null;
  started_at: string;
  finished_at: string | null;
  duration_ms: number | null;
  error: string | null;
}

/** Records a backup before the dump starts, so a killed one is visible afterwards. */
export async function startBackupRow(knex: Knex, row: Pick<BackupRow, 'tenant_id' | 'slug' | 'file' | 'engine' | 'server_version' | 'migration'>): Promise<number> {
  const [inserted] = await knex(TABLE).insert({ ...row, status: 'running', started_at: now() }, ['id']);
  return Number(typeof inserted === 'object' ? (inserted as { id: number }).id : inserted);
}

export async function finishBackupRow(knex: Knex, id: number, patch: Partial<BackupRow>): Promise<void> {
  await knex(TABLE).where({ id }).update({ ...patch, finished_at: now() });
}

export async function findBackupRow(knex: Knex, where: { id: number } | { file: string }): Promise<BackupRow | undefined> {
  return knex<BackupRow>(TABLE).where(where).first();
}

export interface BackupFilter {
  slugs?: string[];
  status?: BackupStatus;
}

/** Newest first. */
export async function listBackupRows(knex: Knex, filter: BackupFilter = {}): Promise<BackupRow[]> {
  const query = knex<BackupRow>(TABLE).orderBy('id', 'desc');
  if (filter.slugs?.length) query.whereIn('slug', filter.slugs);
  if (filter.status) query.where('status', filter.status);
  return normalise(await query);
}

export async function latestGoodBackup(knex: Knex, slug: string): Promise<BackupRow | undefined> {
  const row = await knex<BackupRow>(TABLE).where({ slug, status: 'ok' }).orderBy('id', 'desc').first();
  return row ? normalise([row])[0] : undefined;
}

export async function deleteBackupRows(knex: Knex, ids: number[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 500) await knex(TABLE).whereIn('id', ids.slice(i, i + 500)).delete();
}

/** bigint columns arrive as strings from some drivers. */
function normalise(rows: BackupRow[]): BackupRow[] {
  return rows.map((row) => ({ ...row, bytes: row.bytes === null ? null : Number(row.bytes), duration_ms: row.duration_ms === null ? null : Number(row.duration_ms) }));
}
