import type { Context } from '../../context/context.js';
import { findMoveRow, runningMoves, type MoveRow } from '../../registry/moves-repo.js';
import type { ServerRow } from '../../registry/servers-repo.js';
import { findTenantRow } from '../../registry/tenants-repo.js';
import type { NewFinding } from './findings.js';
import { tenantLockName } from '../shared/tenant-lock.js';
import { replicationName, replicationPrefix } from '../moves/online-steps.js';
import type { FleetView } from './fleet-view.js';
import type { FindingList } from './findings.js';

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

/**
 * `replication_leftover`: a replication slot, subscription, replication connection or login this
 * registry's online moves named, on any server, that no move under way accounts for (a move under
 * way, even an interrupted one, removes its own when it is run again). A slot left behind keeps
 * the source's WAL from being recycled; the repair removes it. The moves under way are read after
 * the servers are listed, and again by each repair: a move that starts meanwhile (its row is
 * recorded before it creates anything) is never taken for a leftover.
 */
export async function replicationLeftovers(ctx: Context, fleet: FleetView, list: FindingList): Promise<void> {
  const prefix = await replicationPrefix(ctx);
  const listed = new Map<number, Array<{ what: string; name: string }>>();
  for (const [id, handle] of fleet.handles) {
    // A server that cannot list them (an admin without the rights) is no finding here.
    const online = handle.connection.onlineMoves;
    if (online) listed.set(id, await online.leftovers(prefix).catch(() => []));
  }
  const running = new Set(
    await Promise.all((await runningMoves(fleet.registry.knex)).map((m) => replicationName(ctx, m))),
  );
  for (const [id, all] of listed) {
    const online = fleet.handles.get(id)!.connection.onlineMoves!;
    const found = all.filter((l) => !running.has(l.name));
    const server = fleet.servers.find((s) => s.id === id)?.name ?? `#${id}`;
    for (const name of new Set(found.map((l) => l.name))) {
      const what = found.filter((l) => l.name === name).map((l) => l.what);
      list.add(
        {
          kind: 'replication_leftover',
          tenant: null,
          server,
          target: { type: 'server', name: server },
          message: `${what.join(', ')} "${name}" left by an online move on server "${server}"${what.includes('replication slot') ? ' (the slot keeps the server from recycling its WAL)' : ''}`,
          autoFix: true,
        },
        async () => {
          const move = await moveNamed(ctx, prefix, name);
          // Under way since the listing (run again after a kill, say): its own run removes it.
          if (move?.status === 'running') return;
          // What the move changed on its source (replica identities) is put back there only.
          const recorded =
            move && move.source_server_id === id
              ? { database: move.source_database, fullTables: replicaFullOf(move) }
              : null;
          await online.removeLeftover(name, recorded);
        },
      );
    }
  }
}

/** The registry's move whose replication objects are named `name` (prefix and its id), if any. */
async function moveNamed(ctx: Context, prefix: string, name: string): Promise<MoveRow | undefined> {
  const id = Number(name.slice(prefix.length));
  if (!Number.isSafeInteger(id) || id <= 0) return undefined;
  return findMoveRow((await ctx.registry()).knex, id);
}

const replicaFullOf = (move: MoveRow): string[] =>
  move.replica_full ? (JSON.parse(move.replica_full) as string[]) : [];
