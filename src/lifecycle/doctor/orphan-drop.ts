import type { Context, ServerHandle } from '../../context/context.js';
import { ConflictError } from '../../core/errors.js';
import { usersOf } from '../../engines/engine-driver.js';
import { databasesHeldByMoves } from '../../registry/moves-repo.js';
import { listServerRows } from '../../registry/servers-repo.js';
import { listTenantRows } from '../../registry/tenants-repo.js';
import { backupOrphanDatabase } from '../backups/backup-tenants.js';

/**
 * Whether two server rows are one server: the same row, or the same identity (what each server
 * said it is this run, else what the registry recorded). Two rows of one engine of which either
 * identity is unknown might be one server: `maybe`.
 */
export function sameServer(
  a: { id: number; engine: string; identity: string | null },
  b: { id: number; engine: string; identity: string | null },
): 'yes' | 'no' | 'maybe' {
  if (a.id === b.id) return 'yes';
  if (a.engine !== b.engine) return 'no';
  if (a.identity && b.identity) return a.identity === b.identity ? 'yes' : 'no';
  return 'maybe';
}

/**
 * Drops an orphan database or user, as doctor --fix --drop-orphans does, only after checking it
 * again against the registry as it is now (not as doctor read it: a create or a move may have
 * landed since) on every row that is, or might be, the same server — however its address is
 * written — and, for a database, after a backup of it. Throws, dropping nothing, when a tenant
 * lives in it or a move holds it.
 */
export async function dropOrphan(
  ctx: Context,
  server: ServerHandle,
  target: { type: 'database' | 'user'; name: string },
  identities: Map<number, string>,
): Promise<{ backup?: string }> {
  const registry = await ctx.registry();
  const here = { id: server.row.id, engine: server.row.engine, identity: server.identity };
  const rows = await listServerRows(registry.knex, { includeRemoved: true });
  const alike = new Set(
    rows
      .filter(
        (r) =>
          sameServer(here, { id: r.id, engine: r.engine, identity: identities.get(r.id) ?? r.identity ?? null }) !==
          'no',
      )
      .map((r) => r.id),
  );
  const holders = [
    ...(await listTenantRows(registry.knex))
      .filter((t) => t.status !== 'deleted' && alike.has(t.server_id))
      .map((t) => ({
        database: t.database_name,
        user: t.database_user,
        by: `tenant "${t.slug}" (server "${t.server_name}")`,
      })),
    ...(await databasesHeldByMoves(registry.knex))
      .filter((m) => alike.has(m.serverId))
      .map((m) => ({ database: m.database, user: m.user, by: 'a move' })),
  ];
  const holder = holders.find((h) => (target.type === 'database' ? h.database : h.user) === target.name);
  if (holder)
    throw new ConflictError(`${target.type} "${target.name}" belongs to ${holder.by}: it is no orphan; not dropped`);
  if (target.type === 'user') {
    await usersOf(server.connection).dropUser(target.name);
    return {};
  }
  // What is dropped can be had back: restore --from <file>.
  const backup = await backupOrphanDatabase(ctx, server, target.name);
  await server.connection.dropDatabase(target.name);
  return { backup: backup.file };
}
