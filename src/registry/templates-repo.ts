import type { Knex } from 'knex';
import { now } from './tenants-repo.js';

const TABLE = 'tenantctl_templates';

/** `building`: recorded before its database is made, never cloned; `ready`: complete, cloned by `create`. */
export type TemplateState = 'building' | 'ready';

/** A schema template as the registry stores it (see 019-schema-templates). */
export interface TemplateRow {
  id: number;
  server_id: number;
  /** Which migration state, knexfile, settings and server version it was built for (templateKey). */
  template_key: string;
  state: TemplateState;
  database_name: string;
  /** The role or account its objects belong to (PostgreSQL, MySQL); null where the engine has none. */
  database_user: string | null;
  /** migrationFingerprint of the migrations it holds. */
  migration_fingerprint: string;
  migrations: number;
  server_version: string;
  last_error: string | null;
  build_ms: number | null;
  created_at: string;
  built_at: string | null;
}

export async function listTemplateRows(knex: Knex, serverId?: number): Promise<TemplateRow[]> {
  const query = knex<TemplateRow>(TABLE).orderBy('id');
  if (serverId !== undefined) query.where({ server_id: serverId });
  return query;
}

/** The ready template of that server and key, if any (the newest, should there be two). */
export async function findReadyTemplate(knex: Knex, serverId: number, key: string): Promise<TemplateRow | undefined> {
  return knex<TemplateRow>(TABLE)
    .where({ server_id: serverId, template_key: key, state: 'ready' })
    .orderBy('id', 'desc')
    .first();
}

export async function insertTemplateRow(
  knex: Knex,
  row: Omit<TemplateRow, 'id' | 'created_at' | 'built_at' | 'build_ms' | 'last_error' | 'state'>,
): Promise<TemplateRow> {
  const values = {
    ...row,
    state: 'building' as const,
    created_at: now(),
    built_at: null,
    build_ms: null,
    last_error: null,
  };
  await knex(TABLE).insert(values);
  // Found again by its unique database name: MySQL has no RETURNING.
  return (await knex<TemplateRow>(TABLE).where({ database_name: row.database_name }).first())!;
}

export async function markTemplateReady(knex: Knex, id: number, buildMs: number): Promise<void> {
  await knex(TABLE).where({ id }).update({ state: 'ready', built_at: now(), build_ms: buildMs, last_error: null });
}

export async function deleteTemplateRow(knex: Knex, id: number): Promise<void> {
  await knex(TABLE).where({ id }).delete();
}
