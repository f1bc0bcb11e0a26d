import type { Knex } from 'knex';
import { processOwner, type ProcessOwner } from '../core/process-owner.js';
import { now } from './tenants-repo.js';

const TABLE = 'tenantctl_backups';

/** `interrupted`: its process was killed mid-dump; its partial file was removed when that was found. */
export type BackupStatus = 'running' | 'ok' | 'failed' | 'interrupted';

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
  /**
   * The process that runs (ran) it; null on records from before owners were recorded (absent on a file from
   * elsewhere).
   */
  owner_host?: string | null;
  owner_pid?: number | null;
  owner_start?: string | null;
  /** When its tenant was deleted (kept `deletedRetentionDays` after that); null while the tenant lives. */
  tenant_deleted_at?: string | null;
  /** An encrypted backup's data key, wrapped by the registry key (a registry secret); null: not encrypted. */
  data_key_enc?: string | null;
  /** The registry key `data_key_enc` is wrapped under; null: the registry's current key. */
  key_fingerprint?: string | null;
}

/**
 * Records a backup before the dump starts, with the process that runs it, so a killed one is
 * visible afterwards and can be told from one still at work.
 */
export async function startBackupRow(
  knex: Knex,
  row: Pick<BackupRow, 'tenant_id' | 'slug' | 'file' | 'engine' | 'server_version' | 'migration' | 'data_key_enc'>,
): Promise<number> {
  const owner = processOwner();
  const [inserted] = await knex(TABLE).insert(
    {
      ...row,
      status: 'running',
      started_at: now(),
      owner_host: owner.host,
      owner_pid: owner.pid,
      owner_start: owner.start,
    },
    ['id'],
  );
  return Number(typeof inserted === 'object' ? (inserted as { id: number }).id : inserted);
}

export async function finishBackupRow(knex: Knex, id: number, patch: Partial<BackupRow>): Promise<void> {
  await knex(TABLE)
    .where({ id })
    .update({ ...patch, finished_at: now() });
}

export async function findBackupRow(
  knex: Knex,
  where: { id: number } | { file: string } | { sha256: string; status: BackupStatus },
): Promise<BackupRow | undefined> {
  const row = await knex<BackupRow>(TABLE).where(where).first();
  return row ? normalise([row])[0] : undefined;
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

/** The process recorded as running a backup, or null for records from before owners were recorded. */
export function backupOwner(row: BackupRow): ProcessOwner | null {
  return row.owner_host && row.owner_pid
    ? { host: row.owner_host, pid: Number(row.owner_pid), start: row.owner_start ?? null }
    : null;
}

/** Marks a `running` record interrupted; a record that finished meanwhile stays as it is. */
export async function markBackupInterrupted(knex: Knex, id: number, error: string): Promise<boolean> {
  return (
    (await knex(TABLE).where({ id, status: 'running' }).update({ status: 'interrupted', error, finished_at: now() })) >
    0
  );
}

export async function latestGoodBackup(knex: Knex, slug: string): Promise<BackupRow | undefined> {
  const row = await knex<BackupRow>(TABLE).where({ slug, status: 'ok' }).orderBy('id', 'desc').first();
  return row ? normalise([row])[0] : undefined;
}

export async function deleteBackupRows(knex: Knex, ids: number[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 500)
    await knex(TABLE)
      .whereIn('id', ids.slice(i, i + 500))
      .delete();
}

/** Stamps a deleted tenant's backups with the time it was deleted (those stamped already keep theirs). */
export async function markBackupsOfDeletedTenant(knex: Knex, tenantId: number, at: string): Promise<void> {
  await knex(TABLE).where({ tenant_id: tenantId }).whereNull('tenant_deleted_at').update({ tenant_deleted_at: at });
}

/**
 * Backups of deleted tenants, newest first: those of one tenant (`tenantId`), or those whose
 * tenant was deleted before `deletedBefore`, or all of them.
 */
export async function listDeletedTenantBackupRows(
  knex: Knex,
  filter: { tenantId?: number; deletedBefore?: string } = {},
): Promise<BackupRow[]> {
  const query = knex<BackupRow>(TABLE).whereNotNull('tenant_deleted_at').orderBy('id', 'desc');
  if (filter.tenantId !== undefined) query.where({ tenant_id: filter.tenantId });
  if (filter.deletedBefore !== undefined) query.where('tenant_deleted_at', '<', filter.deletedBefore);
  return normalise(await query);
}

/** bigint columns arrive as strings from pg (and counts from some drivers): every read goes through here. */
function normalise(rows: BackupRow[]): BackupRow[] {
  return rows.map((row) => ({
    ...row,
    bytes: row.bytes === null ? null : Number(row.bytes),
    duration_ms: row.duration_ms === null ? null : Number(row.duration_ms),
  }));
}
