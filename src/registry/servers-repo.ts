import type { Knex } from 'knex';
import type { Engine, ServerSpec } from '../engines/server-spec.js';
import { now } from './tenants-repo.js';

const TABLE = 'tenantctl_servers';

export interface ServerRow {
  id: number;
  name: string;
  engine: Engine;
  host: string | null;
  port: number | null;
  admin_user: string | null;
  admin_password_enc: string | null;
  /** Fingerprint of the key `admin_password_enc` is encrypted with; null: the registry's current key. */
  key_fingerprint?: string | null;
  admin_database: string | null;
  user_host: string | null;
  path: string | null;
  created_at: string;
  updated_at: string;
}

/** The connection spec a row describes; the password is the caller's to decrypt and add. */
export function specFromRow(row: ServerRow, password?: string): ServerSpec {
  return {
    engine: row.engine,
    host: row.host ?? undefined,
    port: row.port ?? undefined,
    user: row.admin_user ?? undefined,
    password,
    database: row.admin_database ?? undefined,
    userHost: row.user_host ?? undefined,
    path: row.path ?? undefined,
  };
}

export async function findServerRow(knex: Knex, where: { id: number } | { name: string }): Promise<ServerRow | undefined> {
  return knex<ServerRow>(TABLE).where(where).first();
}

export async function listServerRows(knex: Knex): Promise<ServerRow[]> {
  return knex<ServerRow>(TABLE).orderBy('name');
}

/**
 * Records a server under its name, or refreshes its connection details (credentials rotate).
 * `encryptedPassword` is already encrypted: this module never sees a plaintext secret.
 */
export async function upsertServerRow(knex: Knex, name: string, spec: ServerSpec, encryptedPassword: string | null): Promise<ServerRow> {
  const fields = {
    engine: spec.engine,
    host: spec.host ?? null,
    port: spec.port ?? null,
    admin_user: spec.user ?? null,
    admin_password_enc: encryptedPassword,
    key_fingerprint: null, // encrypted with the current key
    admin_database: spec.database ?? null,
    user_host: spec.userHost ?? null,
    path: spec.path ?? null,
  };
  const existing = await findServerRow(knex, { name });
  if (existing && existing.engine !== spec.engine) {
    throw new Error(`server "${name}" is recorded as ${existing.engine}, not ${spec.engine}: give this one another name`);
  }
  if (existing) {
    await knex(TABLE).where({ id: existing.id }).update({ ...fields, updated_at: now() });
  } else {
    const at = now();
    await knex(TABLE).insert({ name, ...fields, created_at: at, updated_at: at });
  }
  const row = await findServerRow(knex, { name });
  if (!row) throw new Error(`registry lost server ${name} just recorded`);
  return row;
}
