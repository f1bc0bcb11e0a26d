import type { Knex } from 'knex';

/** What a table's secrets belong to. */
export type SecretOwner = 'tenants' | 'servers' | 'moves' | 'backups';

/** A table holding secrets, and its encrypted columns (all under the row's `key_fingerprint`). */
export interface SecretTable {
  table: string;
  owner: SecretOwner;
  columns: string[];
}

/** Every table of the registry that holds encrypted secrets. */
export const SECRET_TABLES: readonly SecretTable[] = [
  { table: 'tenantctl_tenants', owner: 'tenants', columns: ['password_enc', 'password_pending_enc'] },
  { table: 'tenantctl_servers', owner: 'servers', columns: ['admin_password_enc'] },
  { table: 'tenantctl_moves', owner: 'moves', columns: ['password_enc'] },
  // An encrypted backup's data key: re-wrapped, never the backup itself.
  { table: 'tenantctl_backups', owner: 'backups', columns: ['data_key_enc'] },
];

/** A row's id, key fingerprint and encrypted columns, as read. */
export type SecretRow = Record<string, string | null> & { id: number };

/** The key fingerprint of every row of the table that holds at least one secret. */
export async function secretRowFingerprints(
  knex: Knex,
  { table, columns }: SecretTable,
): Promise<Array<string | null>> {
  const rows = (await knex(table)
    .where((q) => {
      for (const column of columns) q.orWhereNotNull(column);
    })
    .select('key_fingerprint')) as Array<{ key_fingerprint: string | null }>;
  return rows.map((row) => row.key_fingerprint);
}

/** The rows of the table holding at least one secret that are not under the key with this fingerprint. */
export async function secretRowsNotUnder(
  knex: Knex,
  { table, columns }: SecretTable,
  fingerprint: string,
): Promise<SecretRow[]> {
  return (await knex(table)
    .select('id', 'key_fingerprint', ...columns)
    .where((q) => {
      q.whereNull('key_fingerprint').orWhereNot('key_fingerprint', fingerprint);
    })
    .andWhere((q) => {
      for (const column of columns) q.orWhereNotNull(column);
    })) as SecretRow[];
}

/**
 * Writes the patch to the row only if its key fingerprint and secrets are still as read (a row
 * written meanwhile is left alone). Returns whether it was written.
 */
export async function updateSecretRowIfUnchanged(
  knex: Knex,
  { table, columns }: SecretTable,
  row: SecretRow,
  patch: Record<string, string | null>,
): Promise<boolean> {
  const stillAsRead = (q: Knex.QueryBuilder) => {
    q.where('id', row.id);
    for (const column of ['key_fingerprint', ...columns]) {
      const value = row[column] ?? null;
      if (value === null) q.whereNull(column);
      else q.where(column, value);
    }
  };
  return (await knex(table).where(stillAsRead).update(patch)) === 1;
}
