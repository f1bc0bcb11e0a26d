import type { Context } from '../../context/context.js';
import { removeServerRow } from '../../registry/servers-repo.js';
import { toServerInfo, type ServerInfo } from './server-info.js';
import { assertNoLiveTenants, loadServer } from './update-server.js';

export interface RemoveServerResult {
  server: ServerInfo;
  /** `deleted`: the row is gone; `kept`: deleted tenants' records still name it, so it stays as `removed`. */
  record: 'deleted' | 'kept';
}

/**
 * Forgets a server. Only without live tenants (exit 4 otherwise); its databases are not touched.
 * Records of deleted tenants keep naming it, so then it stays in the registry as `removed`.
 */
export async function removeServer(ctx: Context, name: string): Promise<RemoveServerResult> {
  const row = await loadServer(ctx, name);
  await assertNoLiveTenants(ctx, row);
  const record = await removeServerRow((await ctx.registry()).knex, row.id);
  return { server: { ...toServerInfo(row, 0), status: 'removed' }, record };
}
