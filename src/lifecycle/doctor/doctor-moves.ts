import type { Context } from '../../context/context.js';
import { runningMoves } from '../../registry/moves-repo.js';
import type { ServerRow } from '../../registry/servers-repo.js';
import { findTenantRow } from '../../registry/tenants-repo.js';
import type { NewFinding } from './findings.js';
import { tenantLockName } from '../shared/tenant-lock.js';

/**
 * Moves whose record says running while no tenantctl holds their tenant: killed. Before the switch
 * the tenant is still on the source (fenced, if the fence ran); after it, the tenant works on the
 * target and only retiring the source is left — the tenant's row then looks done, so only the
 * move's record tells. Either way `tenantctl move <slug>` finishes or rolls it back.
 */
export async function interruptedMoves(ctx: Context, servers: ServerRow[]): Promise<NewFinding[]> {
  const registry = await ctx.registry();
  const name = (id: number | undefined) => servers.find((s) => s.id === id)?.name ?? `#${id}`;
  const findings: NewFinding[] = [];
  for (const move of await runningMoves(registry.knex)) {
    const lock = await registry.tryLock(tenantLockName(move.slug), 0);
    if (!lock) continue; // in progress right now
    await lock.release();
    const tenant = await findTenantRow(registry.knex, move.slug);
    const [source, target] = [name(move.source_server_id), name(move.target_server_id)];
    const switched = tenant?.server_id === move.target_server_id;
    const step = move.step ?? 'preflight';
    findings.push({
      kind: 'interrupted',
      operation: 'move',
      tenant: move.slug,
      server: switched ? target : source,
      message: switched
        ? `move to "${target}" was interrupted at step "${step}", after its switch: the tenant works on "${target}", and its old copy (database "${move.source_database}") is still on "${source}"`
        : `move to "${target}" was interrupted at step "${step}": the tenant is still on "${source}"${move.fenced_at ? ', fenced (its users cannot log in) until the move is finished or rolled back' : ''}`,
    });
  }
  return findings;
}
