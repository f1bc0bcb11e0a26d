import type { Context } from '../../context/context.js';
import type { AppliedMigrations } from '../../engines/engine-driver.js';
import type { TenantWithServer } from '../../registry/tenants-repo.js';
import { tenantProject } from '../../tenant-schema/tenant-project.js';
import { tenantLogin } from '../shared/tenant-login.js';

/**
 * Each server's tenants' applied migrations, each read as the tenant or without running anything
 * of the tenant's (see DatabaseInspection.readAppliedMigrations). With `crossDatabaseOnly`, only
 * servers whose engine reads them all over one connection are asked (the others are checked per
 * tenant, on the connection that migrates it). `available` lets an engine that keeps fingerprints
 * answer from them.
 */
export async function readAppliedInBulk(
  ctx: Context,
  tenants: TenantWithServer[],
  concurrency: number,
  crossDatabaseOnly = false,
  available?: string[],
): Promise<Map<number, AppliedMigrations>> {
  const byServer = new Map<number, TenantWithServer[]>();
  for (const t of tenants) byServer.set(t.server_id, [...(byServer.get(t.server_id) ?? []), t]);
  const result = new Map<number, AppliedMigrations>();
  const table = (await tenantProject(ctx)).table;
  for (const [serverId, onServer] of byServer) {
    const server = await ctx.server(serverId);
    if (crossDatabaseOnly && !server.connection.driver.crossDatabaseReads) continue;
    const logins = onServer.map((t) => tenantLogin(ctx, server, t));
    result.set(serverId, await server.connection.readAppliedMigrations(logins, table, concurrency, available));
  }
  return result;
}

/** Each server's migration fingerprints, where the engine keeps them. */
export async function readFingerprints(
  ctx: Context,
  tenants: TenantWithServer[],
): Promise<Map<number, Map<string, string | null>>> {
  const result = new Map<number, Map<string, string | null>>();
  for (const serverId of new Set(tenants.map((t) => t.server_id))) {
    const server = await ctx.server(serverId);
    const databases = tenants.filter((t) => t.server_id === serverId).map((t) => t.database_name);
    const fingerprints = await server.connection.migrationFingerprints?.readMigrationFingerprints(databases);
    if (fingerprints) result.set(serverId, fingerprints);
  }
  return result;
}
