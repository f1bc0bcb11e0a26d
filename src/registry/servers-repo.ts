import type { Knex } from 'knex';
import { ConflictError, InternalError } from '../core/errors.js';
import type { Engine, ServerSpec } from '../engines/server-spec.js';
import type { TlsSettings } from '../engines/tls-settings.js';
import { now } from './tenants-repo.js';

const TABLE = 'tenantctl_servers';

/** `active` takes new tenants; `draining` keeps its tenants but takes no new ones; `removed` is history. */
export const SERVER_STATUSES = ['active', 'draining', 'removed'] as const;
export type ServerStatus = (typeof SERVER_STATUSES)[number];

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
  /** JSON of the server's TlsSettings (file paths, not contents); null: none set. */
  tls?: string | null;
  status: ServerStatus;
  /** JSON object of label → value. */
  labels: string | null;
  /** Most live tenants this server takes; null: no limit. */
  max_tenants: number | null;
  /** Share of new tenants relative to other servers (placement by tenants). Default 1. */
  weight: number;
  /** Most tenants fleet commands work on at once on this server; null: the run's --concurrency. */
  concurrency: number | null;
  /** The version string the server gave when last reached. */
  version: string | null;
  /**
   * What the server says it is (see ServerConnection.identity), recorded at `server add` or first
   * contact; null for a server registered before identities were kept and not reached since.
   */
  identity?: string | null;
  checked_at: string | null;
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
    ...(row.tls ? { tls: JSON.parse(row.tls) as TlsSettings } : {}),
  };
}

export function serverLabels(row: ServerRow): Record<string, string> {
  return row.labels ? (JSON.parse(row.labels) as Record<string, string>) : {};
}

export async function findServerRow(
  knex: Knex,
  where: { id: number } | { name: string },
): Promise<ServerRow | undefined> {
  return knex<ServerRow>(TABLE).where(where).first();
}

/** Every server but removed ones (with `includeRemoved`, those too), by name. */
export async function listServerRows(knex: Knex, options: { includeRemoved?: boolean } = {}): Promise<ServerRow[]> {
  const query = knex<ServerRow>(TABLE).orderBy('name');
  if (!options.includeRemoved) query.whereNot({ status: 'removed' });
  return query;
}

/** Connection details of a server, as stored: the password already encrypted. */
export interface ServerConnectionFields {
  spec: ServerSpec;
  encryptedPassword: string | null;
}

function connectionColumns({ spec, encryptedPassword }: ServerConnectionFields) {
  return {
    engine: spec.engine,
    host: spec.host ?? null,
    port: spec.port ?? null,
    admin_user: spec.user ?? null,
    admin_password_enc: encryptedPassword,
    key_fingerprint: null, // encrypted with the current key
    admin_database: spec.database ?? null,
    user_host: spec.userHost ?? null,
    path: spec.path ?? null,
    tls: spec.tls ? JSON.stringify(spec.tls) : null,
  };
}

/** What `server add` and `server update` may set besides the connection. */
export interface ServerSettings {
  labels?: Record<string, string>;
  maxTenants?: number | null;
  weight?: number;
  concurrency?: number | null;
  status?: ServerStatus;
  version?: string;
  /** What the server says it is (unique among registered servers). */
  identity?: string;
}

function settingColumns(settings: ServerSettings) {
  const columns: Partial<ServerRow> = {};
  if (settings.labels !== undefined) columns.labels = JSON.stringify(settings.labels);
  if (settings.maxTenants !== undefined) columns.max_tenants = settings.maxTenants;
  if (settings.weight !== undefined) columns.weight = settings.weight;
  if (settings.concurrency !== undefined) columns.concurrency = settings.concurrency;
  if (settings.status !== undefined) columns.status = settings.status;
  if (settings.identity !== undefined) columns.identity = settings.identity;
  if (settings.version !== undefined) {
    columns.version = settings.version;
    columns.checked_at = now();
  }
  return columns;
}

/**
 * Records a server under its name, or refreshes its connection details (credentials rotate).
 * A removed server of that name comes back. The password is already encrypted: this module
 * never sees a plaintext secret.
 */
export async function upsertServerRow(
  knex: Knex,
  name: string,
  connection: ServerConnectionFields,
  settings: ServerSettings = {},
): Promise<ServerRow> {
  const existing = await findServerRow(knex, { name });
  if (existing && existing.engine !== connection.spec.engine) {
    throw new ConflictError(
      `server "${name}" is recorded as ${existing.engine}, not ${connection.spec.engine}: give this one another name`,
    );
  }
  const fields = { ...connectionColumns(connection), ...settingColumns(settings) };
  if (existing) {
    const revived = existing.status === 'removed' && settings.status === undefined ? { status: 'active' } : {};
    await knex(TABLE)
      .where({ id: existing.id })
      .update({ ...fields, ...revived, updated_at: now() });
  } else {
    const at = now();
    await knex(TABLE).insert({ labels: '{}', name, ...fields, created_at: at, updated_at: at });
  }
  const row = await findServerRow(knex, { name });
  if (!row) throw new InternalError(`registry lost server ${name} just recorded`);
  return row;
}

/** Changes a server's settings (and, when given, its connection); returns the new row. */
export async function updateServerRow(
  knex: Knex,
  id: number,
  settings: ServerSettings,
  connection?: ServerConnectionFields,
): Promise<ServerRow> {
  const fields = { ...(connection ? connectionColumns(connection) : {}), ...settingColumns(settings) };
  await knex(TABLE)
    .where({ id })
    .update({ ...fields, updated_at: now() });
  return (await findServerRow(knex, { id }))!;
}

/**
 * Removes a server's row; one that tenant records still name is kept as `removed` instead, without
 * its identity, so that the server can be registered again, under any name.
 */
export async function removeServerRow(knex: Knex, id: number): Promise<'deleted' | 'kept'> {
  const referenced = await knex('tenantctl_tenants').where({ server_id: id }).first('id');
  if (referenced) {
    await knex(TABLE).where({ id }).update({ status: 'removed', identity: null, updated_at: now() });
    return 'kept';
  }
  await knex(TABLE).where({ id }).delete();
  return 'deleted';
}

/** The registered (not removed) server with this identity, if any. */
export async function findServerByIdentity(knex: Knex, identity: string): Promise<ServerRow | undefined> {
  return knex<ServerRow>(TABLE).where({ identity }).whereNot({ status: 'removed' }).first();
}

/**
 * Records a server's identity. `expected` is what the row must still hold (null: first contact),
 * so two tenantctls recording at once cannot overwrite each other; returns whether it was written.
 * Throws the driver's unique violation when another server row already has the identity.
 */
export async function recordServerIdentity(
  knex: Knex,
  id: number,
  identity: string,
  expected: string | null,
): Promise<boolean> {
  const query = knex(TABLE).where({ id });
  if (expected === null) query.whereNull('identity');
  else query.where({ identity: expected });
  return (await query.update({ identity, updated_at: now() })) > 0;
}

/** Tenants per server, by status, for placement, `server list` and `server remove`. */
export async function tenantCountsByServer(knex: Knex): Promise<Map<number, Record<string, number>>> {
  const rows = (await knex('tenantctl_tenants')
    .select('server_id', 'status')
    .count({ n: '*' })
    .groupBy('server_id', 'status')) as Array<{
    server_id: number;
    status: string;
    n: number | string;
  }>;
  const counts = new Map<number, Record<string, number>>();
  for (const row of rows) {
    const entry = counts.get(Number(row.server_id)) ?? {};
    entry[row.status] = Number(row.n);
    counts.set(Number(row.server_id), entry);
  }
  return counts;
}
