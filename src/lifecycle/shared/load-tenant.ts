import type { Context } from '../../context/context.js';
import { NotFoundError } from '../../core/errors.js';
import { EXISTING_SLUG, validateSlug } from '../../core/slug.js';
import { findServerRow } from '../../registry/servers-repo.js';
import { findTenantRow, toTenant, type Tenant, type TenantRow } from '../../registry/tenants-repo.js';

/** A tenant's row by slug, or NotFoundError; the slug is validated first. */
export async function loadTenantRow(ctx: Context, slug: string): Promise<TenantRow> {
  validateSlug(slug, EXISTING_SLUG);
  const registry = await ctx.registry();
  const row = await findTenantRow(registry.knex, slug);
  if (!row) throw new NotFoundError(`no tenant "${slug}" in the registry`);
  return row;
}

/** The tenant as commands return it, read fresh from the registry. */
export async function reloadTenant(ctx: Context, slug: string): Promise<Tenant> {
  const registry = await ctx.registry();
  const row = (await findTenantRow(registry.knex, slug))!;
  const server = await findServerRow(registry.knex, { id: row.server_id });
  return toTenant(row, server?.name ?? `#${row.server_id}`);
}
