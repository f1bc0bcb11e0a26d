import type { Context } from '../../context/context.js';
import { databasesHeldByMoves } from '../../registry/moves-repo.js';
import { listServerRows } from '../../registry/servers-repo.js';
import { listTenantRows, type TenantRow } from '../../registry/tenants-repo.js';
import type { Finding } from './findings.js';

/**
 * The findings that still hold against the registry as it is now: tenant findings whose tenant's
 * row is unchanged since doctor read it, and orphans that no tenant or move has taken since.
 */
export async function stillFound(
  ctx: Context,
  findings: Finding[],
  before: TenantRow[],
  alike: (a: number, b: number) => boolean,
): Promise<Finding[]> {
  const registry = await ctx.registry();
  const [now, moves, serverRows] = await Promise.all([
    listTenantRows(registry.knex),
    databasesHeldByMoves(registry.knex),
    listServerRows(registry.knex),
  ]);
  const same = (a: TenantRow, b: TenantRow | undefined) =>
    b !== undefined &&
    a.server_id === b.server_id &&
    a.database_name === b.database_name &&
    a.status === b.status &&
    a.step === b.step;
  const serverId = (name: string) => serverRows.find((r) => r.name === name)?.id;
  // By slug: a fleet of 10,000 tenants has as many findings (never backed up, say).
  const nowBySlug = new Map(now.map((r) => [r.slug, r]));
  const beforeBySlug = new Map(before.map((r) => [r.slug, r]));
  return findings.filter((f) => {
    const target = f.target;
    if (target.type === 'database' || target.type === 'user') {
      const id = serverId(target.server);
      if (id === undefined) return true;
      const named = (database: string, user: string | null) => (target.type === 'database' ? database : user);
      return (
        !now.some(
          (t) =>
            t.status !== 'deleted' && alike(t.server_id, id) && named(t.database_name, t.database_user) === target.name,
        ) && !moves.some((m) => alike(m.serverId, id) && named(m.database, m.user) === target.name)
      );
    }
    if (f.tenant === null || f.kind === 'interrupted_backup' || f.kind === 'interrupted') return true;
    const was = beforeBySlug.get(f.tenant);
    return !was || same(was, nowBySlug.get(f.tenant));
  });
}
