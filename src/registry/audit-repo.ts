import type { Knex } from 'knex';

const TABLE = 'tenantctl_audit';

/** `dry-run`: a command run with --dry-run that succeeded: it changed nothing. */
export type AuditOutcome = 'ok' | 'noop' | 'dry-run' | 'failed';

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
