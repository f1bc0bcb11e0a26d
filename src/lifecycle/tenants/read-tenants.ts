import type { Context } from '../../context/context.js';
import { InternalError } from '../../core/errors.js';
import { describeServer } from '../../engines/server-spec.js';
import { findServerRow, specFromRow } from '../../registry/servers-repo.js';
import { listTenantRows, toTenant, type Tenant, type TenantFilter } from '../../registry/tenants-repo.js';
import { loadTenantRow } from '../shared/load-tenant.js';

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
  if (options.revealPassword) detail.password = row.password_enc ? await ctx.decrypt(row.password_enc) : null;
  return detail;
}
