import type { Context } from '../../context/context.js';
import { NotFoundError } from '../../core/errors.js';
import { findServerRow, listServerRows, tenantCountsByServer, type ServerRow } from '../../registry/servers-repo.js';
import { listTenantRows } from '../../registry/tenants-repo.js';
import {
  LIVE_STATUSES,
  liveCount,
  serverHealth,
  toServerInfo,
  type ServerHealth,
  type ServerInfo,
} from './server-info.js';

export type ServerListing = ServerInfo & ServerHealth & { tenantsByStatus: Record<string, number> };

/**
 * Every registered server with its tenants, and, asked now and side by side, whether it answers
 * and how many bytes its tenants hold. An unreachable server is listed, marked, never an error.
 */
export async function listServers(ctx: Context, options: { includeRemoved?: boolean } = {}): Promise<ServerListing[]> {
  const registry = await ctx.registry();
  const rows = await listServerRows(registry.knex, options);
  return describe(ctx, rows);
}

/** One server, as `server list` shows it. */
export async function showServer(ctx: Context, name: string): Promise<ServerListing> {
  const registry = await ctx.registry();
  const row = await findServerRow(registry.knex, { name });
  if (!row) throw new NotFoundError(`no server "${name}" in the registry (see: tenantctl server list)`);
  return (await describe(ctx, [row]))[0]!;
}

async function describe(ctx: Context, rows: ServerRow[]): Promise<ServerListing[]> {
  const registry = await ctx.registry();
  const counts = await tenantCountsByServer(registry.knex);
  const tenants = await listTenantRows(registry.knex, { statuses: LIVE_STATUSES });
  return Promise.all(
    rows.map(async (row) => {
      const databases = tenants.filter((t) => t.server_id === row.id).map((t) => t.database_name);
      const health: ServerHealth =
        row.status === 'removed'
          ? { reachable: false, error: 'removed', bytes: null }
          : await serverHealth(ctx, row, databases);
      // The version may have been refreshed just now, by reaching the server.
      const fresh = (await findServerRow(registry.knex, { id: row.id })) ?? row;
      return {
        ...toServerInfo(fresh, liveCount(counts.get(row.id))),
        ...health,
        tenantsByStatus: counts.get(row.id) ?? {},
      };
    }),
  );
}
