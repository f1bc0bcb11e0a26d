import type { Knex } from 'knex';
import { InternalError } from '../core/errors.js';

/** `adopting`: an `adopt` under way (never `provisioning`: a create retried over it would drop the database). */
export const TENANT_STATUSES = [
  'provisioning',
  'adopting',
  'active',
  'suspended',
  'deleting',
  'deleted',
  'failed',
] as const;
export type TenantStatus = (typeof TENANT_STATUSES)[number];

const TABLE = 'tenantctl_tenants';

/** A tenant as the registry stores it, secrets included. Never rendered as is. */
export interface TenantRow {
  id: number;
  slug: string;
  name: string;
  status: TenantStatus;
  /** The step an operation recorded before acting; null when no operation is under way. */
  step: string | null;
  server_id: number;
  database_name: string;
  database_user: string | null;
  password_enc: string | null;
  /**
   * Fingerprint of the key `password_enc` and `password_pending_enc` are encrypted with; null: the registry's current
   * key.
   */
  key_fingerprint?: string | null;
  /** The password a rotation is setting, recorded before the server changes; null when none is under way. */
  password_pending_enc?: string | null;
  /** When the password was last set (create or rotate-password). */
  password_changed_at?: string | null;
  plan: string | null;
  metadata: string;
  last_error: string | null;
  status_reason: string | null;
  /** While a delete or restore is under way: the status to return to if it is undone or finishes. */
  previous_status: TenantStatus | null;
  /** The scheduled jobs a suspend disabled (JSON array of names), for reactivate to enable again; null: none. */
  suspended_jobs?: string | null;
  status_changed_at: string;
  created_at: string;
  updated_at: string;
}

/** A tenant as commands return it: every field but secrets. */
export interface Tenant {
  id: number;
  slug: string;
  name: string;
  status: TenantStatus;
  step: string | null;
  server: string;
  database: string;
  user: string | null;
  plan: string | null;
  metadata: Record<string, unknown>;
  lastError: string | null;
  statusReason: string | null;
  statusChangedAt: string;
  createdAt: string;
  updatedAt: string;
}

export const now = () => new Date().toISOString();

export function toTenant(row: TenantRow, serverName: string): Tenant {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    status: row.status,
    step: row.step,
    server: serverName,
    database: row.database_name,
    user: row.database_user,
    plan: row.plan,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    lastError: row.last_error,
    statusReason: row.status_reason,
    statusChangedAt: row.status_changed_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The slug of a live tenant (other than `except`) whose database user on that server is `user`, if any. */
export async function findTenantHoldingUser(
  knex: Knex,
  serverId: number,
  user: string,
  except: string,
): Promise<string | undefined> {
  const row = (await knex(TABLE)
    .where({ server_id: serverId, database_user: user })
    .whereNot({ slug: except })
    .whereNot({ status: 'deleted' })
    .first('slug')) as { slug: string } | undefined;
  return row?.slug;
}

export async function findTenantRow(knex: Knex, slug: string): Promise<TenantRow | undefined> {
  return knex<TenantRow>(TABLE).where({ slug }).first();
}

export async function findTenantSlugById(knex: Knex, id: number): Promise<string | undefined> {
  return (await knex(TABLE).where({ id }).first('slug'))?.slug as string | undefined;
}

export async function findTenantByDatabase(
  knex: Knex,
  serverId: number,
  database: string,
): Promise<TenantRow | undefined> {
  return knex<TenantRow>(TABLE).where({ server_id: serverId, database_name: database }).first();
}

export type NewTenantRow = Omit<
  TenantRow,
  'id' | 'created_at' | 'updated_at' | 'status_changed_at' | 'previous_status'
> &
  Partial<Pick<TenantRow, 'previous_status'>>;

export async function insertTenantRow(knex: Knex, row: NewTenantRow): Promise<TenantRow> {
  const at = now();
  await knex(TABLE).insert({ ...row, created_at: at, updated_at: at, status_changed_at: at });
  const inserted = await findTenantRow(knex, row.slug);
  if (!inserted) throw new InternalError(`registry lost the row for ${row.slug} just inserted`);
  return inserted;
}

/** Updates a row; a status change also stamps `status_changed_at`. */
export async function updateTenantRow(knex: Knex, id: number, patch: Partial<Omit<TenantRow, 'id'>>): Promise<void> {
  const at = now();
  const stamped = patch.status ? { ...patch, status_changed_at: at } : patch;
  await knex(TABLE)
    .where({ id })
    .update({ ...stamped, updated_at: at });
}

/** Removes a tenant's row (`delete --purge`); its history stays in the audit log and backup records. */
export async function deleteTenantRow(knex: Knex, id: number): Promise<void> {
  await knex(TABLE).where({ id }).delete();
}

export interface TenantFilter {
  statuses?: TenantStatus[];
  plans?: string[];
  slugs?: string[];
}

export interface TenantWithServer extends TenantRow {
  server_name: string;
  /** The server's own limit of tenants worked on at once; null: the run's concurrency. */
  server_concurrency: number | null;
}

export async function listTenantRows(knex: Knex, filter: TenantFilter = {}): Promise<TenantWithServer[]> {
  const query = knex<TenantRow>(`${TABLE} as t`)
    .join('tenantctl_servers as s', 's.id', 't.server_id')
    .select('t.*', 's.name as server_name', 's.concurrency as server_concurrency')
    .orderBy('t.slug');
  if (filter.statuses?.length) query.whereIn('t.status', filter.statuses);
  if (filter.plans?.length) query.whereIn('t.plan', filter.plans);
  if (filter.slugs?.length) query.whereIn('t.slug', filter.slugs);
  return await query;
}
