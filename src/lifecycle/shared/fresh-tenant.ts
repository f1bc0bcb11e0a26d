import type { Context } from '../../context/context.js';
import { listTenantRows, type TenantWithServer } from '../../registry/tenants-repo.js';
import { WITH_DATABASE, type TenantSelection } from './select-tenants.js';
import { isMoving } from './tenant-moving.js';

/**
 * A listed tenant as the registry has it now: where to act (`now`, with `movedFrom` when it was
 * moved since the list was read), or why not to act at all (`moved` off the servers the run was
 * asked for, `busy` in an interrupted move, `skipped` deleted or no longer in the selection).
 */
export type FreshTenant =
  { now: TenantWithServer; movedFrom?: string } | { outcome: 'moved' | 'busy' | 'skipped'; reason: string };

/**
 * Reads a tenant's row again right before a fleet command acts on it, which the caller does
 * holding the tenant's lock: a list read at the start of a long run goes stale (another host
 * moved, suspended or deleted the tenant meanwhile), and acting on the stale row would back up or
 * migrate a retired copy while the live database stayed behind.
 */
export async function freshTenant(
  ctx: Context,
  listed: TenantWithServer,
  selection: Pick<TenantSelection, 'servers' | 'statuses'> = {},
): Promise<FreshTenant> {
  const registry = await ctx.registry();
  const [row] = await listTenantRows(registry.knex, { slugs: [listed.slug] });
  if (!row || row.id !== listed.id) return { outcome: 'skipped', reason: 'not started: deleted meanwhile' };
  if (!WITH_DATABASE.includes(row.status) || (selection.statuses?.length && !selection.statuses.includes(row.status)))
    return { outcome: 'skipped', reason: `not started: the tenant is ${row.status} now` };
  if (isMoving(row))
    return {
      outcome: 'busy',
      reason: `busy: an unfinished move (${row.step}); run "tenantctl move ${row.slug}" to finish it`,
    };
  if (row.server_id === listed.server_id && row.database_name === listed.database_name) return { now: row };
  if (selection.servers?.length && !selection.servers.includes(row.server_name))
    return {
      outcome: 'moved',
      reason: `moved to server "${row.server_name}" while the run went on: not worked on here (it is outside --server ${selection.servers.join(',')})`,
    };
  return { now: row, movedFrom: listed.server_name };
}
