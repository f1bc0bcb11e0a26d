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
 * Refuses a database that is not this registry's (see ownership-mark.ts): another registry's mark,
 * or no mark on a name this registry never recorded. Read again just before the drop.
 */
async function assertOurs(server: ServerHandle, database: string, mark: string, recorded: boolean): Promise<void> {
  const found = (await server.connection.readMarks([database])).get(database) ?? null;
  if (found === mark || (found === null && recorded)) return;
  throw new ConflictError(
    `database "${database}" ${found ? "carries another registry's mark" : "carries no mark of this registry's"}: it is no orphan of this registry; not dropped`,
  );
}

/** The database the naming templates give the user's slug; empty when the user is none of the template's. */
function databaseOfUser(ctx: Context, user: string): string {
  const [before, after = ''] = ctx.config.userNameTemplate.split('{slug}');
  const slug =
    user.startsWith(before!) && user.endsWith(after) ? user.slice(before!.length, user.length - after.length) : '';
  return slug ? ctx.config.databaseNameTemplate.replace('{slug}', slug) : '';
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
  const tenantRows = await listTenantRows(registry.knex);
  const holders = [
    ...tenantRows
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
  const recorded = tenantRows.some(
    (t) => alike.has(t.server_id) && (target.type === 'database' ? t.database_name : t.database_user) === target.name,
  );
  if (target.type === 'database') await assertOurs(server, target.name, await registry.mark(), recorded);
  if (target.type === 'user') {
    // Not recorded: ours only if its database (by the templates) is ours.
    const database = databaseOfUser(ctx, target.name);
    const mark = database ? (await server.connection.readMarks([database])).get(database) : null;
    if (!recorded && mark !== (await registry.mark()))
      throw new ConflictError(
        `user "${target.name}" is no orphan of this registry's (never recorded, its database not marked as ours); not dropped`,
      );
    await usersOf(server.connection).dropUser(target.name);
    return {};
  }
  // What is dropped can be had back: restore --from <file>.
  const backup = await backupOrphanDatabase(ctx, server, target.name);
  await server.connection.dropDatabase(target.name);
  return { backup: backup.file };
}
