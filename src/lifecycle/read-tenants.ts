import type { AppContext } from '../context/app-context.js';
import { NotFoundError } from '../core/errors.js';
import { validateSlug } from '../core/slug.js';
import { describeServer } from '../engines/server-spec.js';
import { findServerRow } from '../registry/servers-repo.js';
import { findTenantRow, listTenantRows, toTenant, type Tenant, type TenantFilter } from '../registry/tenants-repo.js';

export async function listTenants(ctx: AppContext, filter: TenantFilter = {}): Promise<Tenant[]> {
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
export async function showTenant(ctx: AppContext, slug: string, options: { revealPassword?: boolean } = {}): Promise<TenantDetail> {
  validateSlug(slug);
  const registry = await ctx.registry();
  const row = await findTenantRow(registry.knex, slug);
  if (!row) throw new NotFoundError(`no tenant "${slug}" in the registry`);
  const server = await findServerRow(registry.knex, { id: row.server_id });
  if (!server) throw new Error(`tenant "${slug}" names server #${row.server_id}, which the registry does not have`);
  const spec = {
    engine: server.engine,
    host: server.host ?? undefined,
    port: server.port ?? undefined,
    user: server.admin_user ?? undefined,
    database: server.admin_database ?? undefined,
    path: server.path ?? undefined,
  };
  const detail: TenantDetail = { ...toTenant(row, server.name), engine: server.engine, serverUrl: describeServer(spec) };
  if (options.revealPassword) detail.password = row.password_enc ? await ctx.decrypt(row.password_enc) : null;
  return detail;
}
