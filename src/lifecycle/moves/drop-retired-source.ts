import type { Context } from '../../context/context.js';
import { NotFoundError, OperationError } from '../../core/errors.js';
import { keptSource, updateMoveRow } from '../../registry/moves-repo.js';
import { findServerRow } from '../../registry/servers-repo.js';
import { loadTenantRow } from '../shared/load-tenant.js';
import { dropTenantDatabase } from '../shared/tenant-database.js';
import { withTenantLock } from '../shared/tenant-lock.js';

export interface DropSourceResult {
  slug: string;
  server: string;
  database: string;
  user: string | null;
}

/** `move --drop-source`: drops the retired copy a `move --keep-source` left on the old server. */
export async function dropRetiredSource(ctx: Context, slug: string): Promise<DropSourceResult> {
  const tenant = await loadTenantRow(ctx, slug);
  return withTenantLock(ctx, slug, async () => {
    const registry = await ctx.registry();
    const move = await keptSource(registry.knex, tenant.id);
    if (!move) throw new NotFoundError(`tenant "${slug}" has no retired copy kept by a move (move --keep-source)`);
    const server = await ctx.server(move.source_server_id);
    const problems = await dropTenantDatabase(server.connection, move.source_database, move.source_user);
    if (problems.length) throw new OperationError(slug, 'drop-source', problems[0], 'run it again to finish');
    await updateMoveRow(registry.knex, move.id, { source_state: 'dropped' });
    const row = await findServerRow(registry.knex, { id: move.source_server_id });
    return {
      slug,
      server: row?.name ?? `#${move.source_server_id}`,
      database: move.source_database,
      user: move.source_user,
    };
  });
}
