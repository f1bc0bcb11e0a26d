import type { Context } from '../../context/context.js';
import { ServerUnreachableError, errorMessage, networkReason } from '../../core/errors.js';
import type { UnreachableServer } from '../../core/fleet-run.js';
import type { TenantWithServer } from '../../registry/tenants-repo.js';

// The type lives with the fleet results (the CLI renders it from there); named here too for the operations.
export type { UnreachableServer } from '../../core/fleet-run.js';

/** The servers of a fleet run, reached side by side before any tenant is worked on. */
export interface FleetServers<T extends TenantWithServer> {
  /** Tenants whose server answered. */
  reachable: T[];
  /** Tenants whose server did not, each with its server's error. */
  unreachable: Array<{ tenant: T; error: ServerUnreachableError }>;
  outages: UnreachableServer[];
}

/**
 * Reaches every server the tenants live on, at once (each within the connect timeout), so one
 * server down costs one timeout for the whole run and the others go on.
 */
export async function reachFleet<T extends TenantWithServer>(ctx: Context, tenants: T[]): Promise<FleetServers<T>> {
  const ids = [...new Set(tenants.map((t) => t.server_id))];
  const errors = new Map<number, ServerUnreachableError>();
  await Promise.all(
    ids.map(async (id) => {
      try {
        await ctx.server(id);
      } catch (error) {
        if (!(error instanceof ServerUnreachableError)) throw error;
        errors.set(id, error);
      }
    }),
  );
  const result: FleetServers<T> = { reachable: [], unreachable: [], outages: [] };
  for (const tenant of tenants) {
    const error = errors.get(tenant.server_id);
    if (error) result.unreachable.push({ tenant, error });
    else result.reachable.push(tenant);
  }
  for (const error of errors.values()) {
    result.outages.push({
      server: error.server,
      address: error.address,
      reason: error.reason,
      error: error.message,
      tenants: result.unreachable.filter((u) => u.error === error).length,
    });
  }
  result.outages.sort((a, b) => a.server.localeCompare(b.server));
  return result;
}

/**
 * Every server a run could not work on: those unreachable from the start (`fleet.outages`) and
 * those lost on the way (see Context.lostServers), each once, with how many of its tenants
 * ended `unreachable`.
 */
export function runOutages<T extends TenantWithServer>(
  ctx: Context,
  fleet: FleetServers<T>,
  outcomes: ReadonlyArray<{ server: string; outcome: string } | undefined>,
): UnreachableServer[] {
  const all = [...fleet.outages];
  for (const error of ctx.lostServers().values()) {
    if (all.some((o) => o.server === error.server)) continue;
    const tenants = outcomes.filter((o) => o?.server === error.server && o.outcome === 'unreachable').length;
    if (tenants === 0) continue; // lost after this run was done with it
    all.push({ server: error.server, address: error.address, reason: error.reason, error: error.message, tenants });
  }
  return all.sort((a, b) => a.server.localeCompare(b.server));
}

/** Whether a tenant's failure was its server going away (mid-run), rather than the tenant's own. */
export function isOutage(error: unknown): boolean {
  return error instanceof ServerUnreachableError || networkReason(error) !== undefined;
}

/** The one-line error of a tenant whose server went away. */
export function outageMessage(tenant: TenantWithServer, error: unknown): string {
  if (error instanceof ServerUnreachableError) return error.message;
  return `server "${tenant.server_name}" became unreachable: ${networkReason(error)} (${errorMessage(error)})`;
}

/**
 * Each server's limit of tenants worked on at once: `--per-server` (perServer) when given, else
 * the server's own setting (`server update --max-concurrency`), else the run's total.
 */
export function serverLimit(
  ctx: Context,
  tenants: Array<Pick<TenantWithServer, 'server_id' | 'server_concurrency'>>,
  concurrency: number,
): (serverId: string | number) => number {
  const own = new Map(tenants.map((t) => [t.server_id, t.server_concurrency]));
  return (id) => Math.min(concurrency, ctx.config.perServer ?? own.get(Number(id)) ?? concurrency);
}
