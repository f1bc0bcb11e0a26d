import type { Knex } from 'knex';

const TABLE = 'tenantctl_audit';

export type AuditOutcome = 'ok' | 'noop' | 'failed';

export interface AuditRow {
  id: number;
  at: string;
  command: string;
  arguments: string;
  os_user: string;
  host: string;
  tenant: string | null;
  outcome: AuditOutcome;
  error: string | null;
  detail: string | null;
}

export async function insertAuditRow(knex: Knex, row: Omit<AuditRow, 'id'>): Promise<void> {
  await knex(TABLE).insert(row);
}

/** Newest first. */
export async function listAuditRows(knex: Knex, tenant: string | undefined, limit: number): Promise<AuditRow[]> {
  const query = knex<AuditRow>(TABLE).orderBy('id', 'desc').limit(limit);
  if (tenant) query.where({ tenant });
  return query;
}
