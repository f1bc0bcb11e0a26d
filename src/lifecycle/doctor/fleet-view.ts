/** What doctor reads once at the start: the registry's rows, and every server reached (or why not). */
import type { Context, ServerHandle } from '../../context/context.js';
import type { Registry } from '../../registry/registry.js';
import { databasesHeldByMoves } from '../../registry/moves-repo.js';
import { listServerRows, type ServerRow } from '../../registry/servers-repo.js';
import { listTenantRows, type TenantRow } from '../../registry/tenants-repo.js';
import { sameServer } from './orphan-drop.js';

export interface FleetView {
  registry: Registry;
  /** The tenants' rows as doctor read them (the recheck compares them with the registry later). */
  rows: TenantRow[];
  servers: ServerRow[];
  /** Databases and users that moves hold (a source kept, a target being filled): no orphans. */
  movedHere: Array<{ serverId: number; database: string; user: string | null }>;
  /** The servers reached, by row id; `failures` says why the others were not. */
  handles: Map<number, ServerHandle>;
  failures: Map<number, unknown>;
  /** What each server reached said it is, by row id. */
  identities: Map<number, string>;
  /** Whether two server rows are, or might be, one server. */
  alike: (a: number, b: number) => boolean;
  /**
   * Set by `doctor <slug>`: the one tenant examined. `rows` and `servers` are then its row and
   * its server only, so nothing else (orphans of other tenants) may be judged from this view.
   */
  only?: string;
}

/**
 * Every server at once, and what each says it is: rows of one server (two names for it) share
 * their tenants, so none of them calls another's databases orphans. A row whose server never
 * said (unreachable since before identities were kept) might be any server of its engine.
 */
export async function readFleet(ctx: Context, only?: TenantRow): Promise<FleetView> {
  const registry = await ctx.registry();
  const rows = only ? [only] : await listTenantRows(registry.knex);
  const servers = (await listServerRows(registry.knex)).filter((s) => !only || s.id === only.server_id);
  const movedHere = await databasesHeldByMoves(registry.knex);
  const handles = new Map<number, ServerHandle>();
  const failures = new Map<number, unknown>();
  await Promise.all(
    servers.map(async (serverRow) => {
      try {
        const handle = await ctx.server(serverRow.id);
        await handle.version();
        handles.set(serverRow.id, handle);
      } catch (error) {
        failures.set(serverRow.id, error);
      }
    }),
  );
  const identities = new Map([...handles].map(([id, h]) => [id, h.identity]));
  const alike = (a: number, b: number) => {
    const of = (id: number) => {
      const row = servers.find((r) => r.id === id);
      return { id, engine: row?.engine ?? '', identity: identities.get(id) ?? row?.identity ?? null };
    };
    return sameServer(of(a), of(b)) !== 'no';
  };
  return {
    registry,
    rows,
    servers,
    movedHere,
    handles,
    failures,
    identities,
    alike,
    ...(only ? { only: only.slug } : {}),
  };
}
