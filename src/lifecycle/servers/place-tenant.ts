import type { Context, ServerHandle } from '../../context/context.js';
import { ConflictError, LockedError, ServerUnreachableError, errorMessage } from '../../core/errors.js';
import { listServerRows, serverLabels, tenantCountsByServer, type ServerRow } from '../../registry/servers-repo.js';
import { incomingMovesByServer } from '../../registry/moves-repo.js';
import { listTenantRows } from '../../registry/tenants-repo.js';
import { LIVE_STATUSES, liveCount } from './server-info.js';

export interface PlacementRequest {
  /** `--server`: this server, by name. */
  server?: string;
  /** `--server-label k=v`: only servers carrying every one of these labels. */
  labels?: Record<string, string>;
  /** Never this server (a move's source). */
  exclude?: number;
  /** Only servers of this engine (a move's target). */
  engine?: string;
}

export interface Placement {
  server: ServerHandle;
  /** One line saying why this server, for the operator. */
  reason: string;
}

interface Candidate {
  row: ServerRow;
  tenants: number;
  bytes?: number;
  score: number;
}

/**
 * Runs `fn` — choose a server and record the tenant (create) or the move (move) on it — as one
 * step for the whole fleet, so that two creates or moves at once never both take a server's last
 * free place. Waits up to 30 s for another tenantctl doing the same.
 */
export async function withPlacementLock<T>(ctx: Context, fn: () => Promise<T>): Promise<T> {
  const lock = await (await ctx.registry()).tryLock('tenantctl:placement', 30_000);
  if (!lock) throw new LockedError('another tenantctl has been choosing a server for 30 s; try again');
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

/**
 * Why `server` cannot take one more tenant now (draining, removed, at capacity), or undefined:
 * for a tenant that arrives on a server it did not choose (adopt). Call it under withPlacementLock.
 */
export async function placementRefusal(ctx: Context, server: ServerHandle): Promise<string | undefined> {
  const load = await serverLoads(ctx);
  return refuse(server.row, load(server.row.id), {});
}

/** Each server's live tenants plus those moving in: what capacity is measured against. */
async function serverLoads(ctx: Context): Promise<(id: number) => { live: number; incoming: number }> {
  const registry = await ctx.registry();
  const [counts, incoming] = await Promise.all([
    tenantCountsByServer(registry.knex),
    incomingMovesByServer(registry.knex),
  ]);
  return (id) => ({ live: liveCount(counts.get(id)), incoming: incoming.get(id) ?? 0 });
}

/**
 * Chooses the server a new tenant goes to. `--server` names it; otherwise the configured server
 * (`serverUrl`) is used when one is configured and no label is asked for; otherwise tenantctl
 * chooses among registered servers that are not draining, match the labels, are below their
 * capacity and answer now: the fewest live tenants per weight (or, with `placement: bytes`, the
 * fewest bytes per weight), ties broken by name. No server can take it: ConflictError (exit 4).
 */
export async function placeTenant(ctx: Context, request: PlacementRequest): Promise<Placement> {
  const registry = await ctx.registry();
  const load = await serverLoads(ctx);

  if (request.server) {
    const server = await ctx.serverByName(request.server);
    const refusal = refuse(server.row, load(server.row.id), request);
    if (refusal) throw new ConflictError(`server "${server.row.name}" cannot take a new tenant: ${refusal}`);
    return { server, reason: 'named with --server' };
  }

  const labelled = Object.keys(request.labels ?? {}).length > 0;
  const rows = await listServerRows(registry.knex);
  if (!labelled && request.exclude === undefined && (ctx.serverUrlConfigured || rows.length === 0)) {
    const server = await ctx.defaultServer();
    const refusal = refuse(server.row, load(server.row.id), request);
    if (refusal)
      throw new ConflictError(`the configured server "${server.row.name}" cannot take a new tenant: ${refusal}`);
    return {
      server,
      reason: ctx.serverUrlConfigured ? 'the configured server (serverUrl)' : 'the embedded default server',
    };
  }

  const excluded: string[] = [];
  const candidates: Candidate[] = [];
  for (const row of rows) {
    const here = load(row.id);
    const refusal = refuse(row, here, request);
    if (refusal) excluded.push(`${row.name}: ${refusal}`);
    else candidates.push({ row, tenants: here.live + here.incoming, score: 0 });
  }
  // Reach every candidate side by side: an unreachable one is passed over, never waited on twice.
  const reached = await Promise.all(
    candidates.map(async (c) => {
      try {
        return { c, server: await ctx.server(c.row.id) };
      } catch (error) {
        excluded.push(
          `${c.row.name}: ${error instanceof ServerUnreachableError ? `unreachable (${error.reason})` : errorMessage(error)}`,
        );
        return undefined;
      }
    }),
  );
  const usable = reached.filter((r): r is { c: Candidate; server: ServerHandle } => r !== undefined);
  if (usable.length === 0) {
    const wanted = labelled
      ? ` with ${Object.entries(request.labels!)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}`
      : '';
    throw new ConflictError(
      `no server${wanted} can take a new tenant${excluded.length ? `: ${excluded.join('; ')}` : ' (none is registered)'}`,
    );
  }

  const byBytes = ctx.config.placement === 'bytes';
  if (byBytes) {
    const tenants = await listTenantRows(registry.knex, { statuses: LIVE_STATUSES });
    await Promise.all(
      usable.map(async ({ c, server }) => {
        const sizes = await server.connection.databaseSizes(
          tenants.filter((t) => t.server_id === c.row.id).map((t) => t.database_name),
        );
        c.bytes = [...sizes.values()].reduce((a, b) => a + b, 0);
      }),
    );
  }
  for (const { c } of usable) c.score = (byBytes ? c.bytes! : c.tenants) / c.row.weight;
  usable.sort((a, b) => a.c.score - b.c.score || a.c.tenants - b.c.tenants || a.c.row.name.localeCompare(b.c.row.name));
  const chosen = usable[0]!;
  const others = usable.slice(1).map(({ c }) => `${c.row.name} ${describe(c, byBytes)}`);
  const passedOver = excluded.length ? `; passed over ${excluded.join('; ')}` : '';
  const reason = `${byBytes ? 'least data' : 'fewest tenants'} for its weight: ${describe(chosen.c, byBytes)}${others.length ? `; ${others.join(', ')}` : ''}${passedOver}`;
  return { server: chosen.server, reason };
}

function describe(c: Candidate, byBytes: boolean): string {
  const amount = byBytes ? `${c.bytes} bytes` : `${c.tenants} tenant${c.tenants === 1 ? '' : 's'}`;
  return `${amount}${c.row.weight !== 1 ? `, weight ${c.row.weight}` : ''}`;
}

/** Why a server cannot take a new tenant now, or undefined. */
function refuse(
  row: ServerRow,
  { live, incoming }: { live: number; incoming: number },
  request: PlacementRequest,
): string | undefined {
  if (row.id === request.exclude) return "it is the tenant's own server";
  if (request.engine && row.engine !== request.engine) return `it runs ${row.engine}, not ${request.engine}`;
  if (row.status === 'draining') return 'it is draining';
  if (row.status === 'removed') return 'it was removed';
  if (row.max_tenants !== null && live + incoming >= row.max_tenants) {
    return `it is at capacity (${live} of ${row.max_tenants} tenants${incoming ? `, and ${incoming} moving in` : ''})`;
  }
  const labels = serverLabels(row);
  const missing = Object.entries(request.labels ?? {}).filter(([k, v]) => labels[k] !== v);
  if (missing.length) return `it lacks ${missing.map(([k, v]) => `${k}=${v}`).join(', ')}`;
  return undefined;
}
