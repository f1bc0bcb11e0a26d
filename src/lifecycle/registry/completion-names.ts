/** What shell completion offers from the registry: tenant slugs and server names, read from its rows only. */
import { existsSync } from 'node:fs';
import type { Context } from '../../context/context.js';
import { parseServerUrl } from '../../engines/server-spec.js';
import { listServerRows } from '../../registry/servers-repo.js';
import { listTenantRows } from '../../registry/tenants-repo.js';

export interface CompletionNames {
  tenants: string[];
  servers: string[];
}

/**
 * The live tenants' slugs and the servers' names. Reaches no server (a completion must be fast),
 * and opens no embedded registry that does not exist yet (completing must not create one).
 */
export async function completionNames(ctx: Context): Promise<CompletionNames> {
  // A registry kept in a file (the embedded one) that is not there yet: nothing to offer.
  const { path } = parseServerUrl(ctx.config.registryUrl);
  if (path && !existsSync(path)) return { tenants: [], servers: [] };
  const registry = await ctx.registry();
  const tenants = await listTenantRows(registry.knex);
  const servers = await listServerRows(registry.knex);
  return {
    tenants: tenants.filter((t) => t.status !== 'deleted').map((t) => t.slug),
    servers: servers.filter((s) => s.status !== 'removed').map((s) => s.name),
  };
}
