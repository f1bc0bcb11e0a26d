import type { Context } from '../../context/context.js';
import { InternalError } from '../../core/errors.js';
import { describeServer } from '../../engines/server-spec.js';
import { findServerRow, specFromRow } from '../../registry/servers-repo.js';
import {
  listTenantRows,
  toTenant,
  type Tenant,
  type TenantFilter,
  type TenantRow,
} from '../../registry/tenants-repo.js';
import { loadTenantRow } from '../shared/load-tenant.js';
import { tenantNames } from '../shared/tenant-names.js';
import { driverFor } from '../../engines/drivers.js';
import type { Engine } from '../../engines/server-spec.js';

export async function listTenants(ctx: Context, filter: TenantFilter = {}): Promise<Tenant[]> {
  const registry = await ctx.registry();
  const rows = await listTenantRows(registry.knex, filter);
  return rows.map((row) => toTenant(row, row.server_name));
}

export interface TenantDetail extends Tenant {
  engine: string;
  /** The server's URL without credentials. */
  serverUrl: string;
  /** The tenant user's password: present only when asked for. */
  password?: string | null;
  /**
   * Where the naming templates gave a name longer than the engine allows, the full name: the
   * database or user is that name cut and ended with a hash (see tenantNames).
   */
  shortenedFrom?: { database?: string; user?: string };
}

/** One tenant's full record; the password only with `revealPassword`. Throws NotFoundError. */
export async function showTenant(
  ctx: Context,
  slug: string,
  options: { revealPassword?: boolean } = {},
): Promise<TenantDetail> {
  const row = await loadTenantRow(ctx, slug);
  const registry = await ctx.registry();
  const server = await findServerRow(registry.knex, { id: row.server_id });
  if (!server)
    throw new InternalError(`tenant "${slug}" names server #${row.server_id}, which the registry does not have`);
  const detail: TenantDetail = {
    ...toTenant(row, server.name),
    engine: server.engine,
    serverUrl: describeServer(specFromRow(server)),
  };
  const shortenedFrom = shortenedNames(ctx, row, server.engine);
  if (shortenedFrom) detail.shortenedFrom = shortenedFrom;
  if (options.revealPassword) detail.password = row.password_enc ? await ctx.decrypt(row.password_enc) : null;
  return detail;
}

/** The full names the templates give this tenant, where its names are those names shortened. */
function shortenedNames(ctx: Context, row: TenantRow, engine: string): TenantDetail['shortenedFrom'] {
  try {
    const names = tenantNames(ctx.config, driverFor(engine as Engine), row.slug, JSON.parse(row.metadata));
    // Only when the stored names are what the templates give today (templates may have changed since).
    if (!names.shortened || names.database !== row.database_name || names.user !== row.database_user) return undefined;
    return names.shortened;
  } catch {
    return undefined; // names from another configuration: nothing to say
  }
}
