import { assertAdminPrivileges } from './admin-privileges.js';
import type { ServerSpec } from '../../engines/server-spec.js';
import { reachServer } from '../../context/app-context.js';
import type { Context } from '../../context/context.js';
import { readIdentity, registeredTwice, verifyServerIdentity } from '../../context/server-identity.js';
import { serverAddress } from '../../engines/server-spec.js';
import { ConflictError, NotFoundError, UsageError } from '../../core/errors.js';
import {
  findServerByIdentity,
  updateServerRow,
  findServerRow,
  serverLabels,
  specFromRow,
  tenantCountsByServer,
  type ServerRow,
  type ServerSettings,
} from '../../registry/servers-repo.js';
import { assertUsablePassword, serverSpecFrom } from './add-server.js';
import { liveCount, toServerInfo, validateSetting, type ServerInfo } from './server-info.js';

export interface UpdateServerInput {
  /** New admin URL (credentials, address); the engine must stay the same. */
  url?: string;
  /** New admin password. */
  password?: string;
  /** Labels to set (a value) or remove (null). */
  labels?: Record<string, string | null>;
  maxTenants?: number | null;
  weight?: number;
  concurrency?: number | null;
  /**
   * Records what the server says it is now as its identity: the confirmation that a server whose
   * identity changed (restored, rebuilt, failed over) is the one meant.
   */
  acceptIdentity?: boolean;
}

export interface ServerChangeResult {
  server: ServerInfo;
  /** False when nothing changed (a harmless repeat). */
  changed: boolean;
}

export async function loadServer(ctx: Context, name: string): Promise<ServerRow> {
  const row = await findServerRow((await ctx.registry()).knex, { name });
  if (!row || row.status === 'removed')
    throw new NotFoundError(`no server "${name}" in the registry (see: tenantctl server list)`);
  return row;
}

async function info(ctx: Context, row: ServerRow): Promise<ServerInfo> {
  const counts = await tenantCountsByServer((await ctx.registry()).knex);
  return toServerInfo(row, liveCount(counts.get(row.id)));
}

/**
 * Changes a server's credentials, labels, capacity, weight or concurrency. New credentials are
 * tried before they are stored: a server that refuses them keeps the old ones, and so does one
 * that is not the registered server (another identity) unless `acceptIdentity` confirms it.
 */
export async function updateServer(ctx: Context, name: string, input: UpdateServerInput): Promise<ServerChangeResult> {
  validateSetting('--max-tenants', input.maxTenants, 0, 1_000_000);
  validateSetting('--weight', input.weight, 1, 1000);
  validateSetting('--concurrency', input.concurrency, 1, 256);
  const row = await loadServer(ctx, name);
  const registry = await ctx.registry();

  let connection: { spec: ServerSpec; password: string | undefined } | undefined;
  let identity: string | undefined;
  const credentials = input.url !== undefined || input.password !== undefined;
  if (credentials || input.acceptIdentity) {
    const current = await ctx.specOf(row);
    const spec =
      input.url !== undefined
        ? serverSpecFrom(ctx, input.url, input.password)
        : { ...specFromRow(row), password: input.password ?? current.password };
    if (spec.engine !== row.engine)
      throw new UsageError(
        `server "${name}" is ${row.engine}; a ${spec.engine} URL cannot replace it (add it as a new server)`,
      );
    if (input.url !== undefined && input.password === undefined && spec.password === undefined)
      spec.password = current.password;
    assertUsablePassword(spec.engine, spec.password);
    const reached = await reachServer(name, { ...spec, connectTimeoutMs: ctx.config.connectTimeout * 1000 });
    try {
      identity = await readIdentity(name, serverAddress(spec), reached.connection);
      // New credentials must be able to do what the old ones were recorded for.
      if (credentials) await assertAdminPrivileges(reached.connection, spec);
    } finally {
      await reached.connection.close();
    }
    const holder = await findServerByIdentity(registry.knex, identity);
    if (holder && holder.id !== row.id) throw registeredTwice(name, serverAddress(spec), holder);
    // Without the confirmation, the server must be the registered one (first contact records it).
    if (!input.acceptIdentity) await verifyServerIdentity(registry.knex, registry.driver, row, identity);
    if (credentials) connection = { spec: { ...spec, connectTimeoutMs: undefined }, password: spec.password };
  }

  const settings: ServerSettings = {};
  if (input.labels) {
    const labels = serverLabels(row);
    for (const [key, value] of Object.entries(input.labels)) {
      if (value === null) delete labels[key];
      else labels[key] = value;
    }
    settings.labels = labels;
  }
  if (input.maxTenants !== undefined) settings.maxTenants = input.maxTenants;
  if (input.weight !== undefined) settings.weight = input.weight;
  if (input.concurrency !== undefined) settings.concurrency = input.concurrency;
  const identityChanged = input.acceptIdentity && identity !== row.identity;
  if (identityChanged) settings.identity = identity;
  if (input.acceptIdentity && !connection && !identityChanged && Object.keys(settings).length === 0)
    return { server: await info(ctx, row), changed: false };
  if (!connection && Object.keys(settings).length === 0)
    throw new UsageError('server update: nothing to change (see --help)');

  const updated = await ctx.withEncrypted(connection?.password, (encryptedPassword) =>
    updateServerRow(registry.knex, row.id, settings, connection && { spec: connection.spec, encryptedPassword }),
  );
  return { server: await info(ctx, updated), changed: true };
}

/** `server drain`: the server takes no new tenants; its tenants keep working. `undrain` reverses it. */
export async function setServerDraining(ctx: Context, name: string, draining: boolean): Promise<ServerChangeResult> {
  const row = await loadServer(ctx, name);
  const status = draining ? 'draining' : 'active';
  if (row.status === status) return { server: await info(ctx, row), changed: false };
  const updated = await updateServerRow((await ctx.registry()).knex, row.id, { status });
  return { server: await info(ctx, updated), changed: true };
}

/** Throws unless the server can be removed: no live tenant may still be on it. */
export async function assertNoLiveTenants(ctx: Context, row: ServerRow): Promise<void> {
  const counts = await tenantCountsByServer((await ctx.registry()).knex);
  const live = liveCount(counts.get(row.id));
  if (live > 0) {
    throw new ConflictError(
      `server "${row.name}" still holds ${live} live tenant${live === 1 ? '' : 's'}: move or delete them first (tenantctl list --server ${row.name})`,
    );
  }
}
