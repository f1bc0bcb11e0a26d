import type { Context } from '../../context/context.js';
import { parseDuration } from '../../core/duration.js';
import { LockedError, UsageError, errorMessage } from '../../core/errors.js';
import { ignoreProgress, progressCounter, type FleetProgress, type FleetRun } from '../../core/fleet-run.js';
import { runPool } from '../../core/run-pool.js';
import { stoppedBy, stopping, type RunInterrupt } from '../../core/run-interrupt.js';
import type { TenantWithServer } from '../../registry/tenants-repo.js';
import { freshTenant } from '../shared/fresh-tenant.js';
import { isOutage, outageMessage, reachFleet, runOutages, serverLimit } from '../shared/fleet-servers.js';
import { selectTenants, type TenantSelection } from '../shared/select-tenants.js';
import { assertTenantCodeTrusted, tenantLogin } from '../shared/tenant-login.js';
import { Aggregator, type FleetAggregate } from './aggregate.js';
import { assertSingleRead } from './read-statement.js';

/** The default of `--timeout`: how long one tenant's statement may run. */
export const DEFAULT_QUERY_TIMEOUT_MS = 30_000;

export interface QueryFleetOptions {
  sql: string;
  /** Named bindings: `:name` in the statement. */
  params?: Record<string, string>;
  /** How long each tenant's statement may run (default 30 s); at most the configured statementTimeout. */
  timeoutMs?: number;
  /** Tenants read at once (each server within its own limit, see serverLimit). */
  concurrency: number;
  /** A fleet summary (sum, min, max, tenants) of this numeric column. */
  aggregate?: string;
  /**
   * Each tenant's rows, as soon as it answered, in the order tenants finish: the caller writes
   * them out, so a fleet's rows are never held at once. Awaited (the caller's backpressure).
   */
  onRows?: (rows: TenantRows) => void | Promise<void>;
  interrupt?: RunInterrupt;
}

/** What one tenant answered. */
export interface TenantRows {
  slug: string;
  server: string;
  columns: string[];
  rows: Array<Record<string, unknown>>;
}

/**
 * `failed`: the statement failed on this tenant (the database's message in `error`: refused as a
 * write, timed out, no such table). `unreachable`: its server could not be reached. `busy`:
 * another operation holds the tenant (a restore, a move). `skipped`: not started (interrupted,
 * deleted meanwhile).
 */
export type QueryOutcomeKind = 'ok' | 'failed' | 'unreachable' | 'busy' | 'skipped';

export interface QueryOutcome {
  slug: string;
  server: string;
  outcome: QueryOutcomeKind;
  /** Rows it answered. */
  rows: number;
  error?: string;
  durationMs: number;
}

export interface QueryResult extends FleetRun<QueryOutcome, QueryOutcomeKind> {
  /** Every tenant answered. */
  ok: boolean;
  total: number;
  counts: Record<QueryOutcomeKind, number>;
  /** Rows over the whole fleet (`--format json` has the rows themselves under `rows`). */
  rowCount: number;
  durationMs: number;
  aggregate?: FleetAggregate;
}

const KINDS: QueryOutcomeKind[] = ['ok', 'failed', 'unreachable', 'busy', 'skipped'];

/**
 * Runs one read on every selected tenant database, as the tenant's own user (so it sees nothing
 * of another tenant's), in a read-only transaction (see DatabaseInspection.readOnlyQuery), each
 * server within its limit. A statement that is not one read is refused before any tenant is
 * touched (UsageError). A tenant that fails never stops the rest; rows go to `onRows` as each
 * tenant answers. Like `stats`, a read takes no tenant's lock (a migrate-all would find tenants
 * busy while an operator reads them); instead each tenant's row is read again right before it is
 * read, so a tenant moved meanwhile is read where it lives now, and one with an operation under
 * way (a restore, a move) is `busy`.
 */
export async function queryFleet(
  ctx: Context,
  selection: TenantSelection,
  options: QueryFleetOptions,
  onProgress: (progress: FleetProgress) => void = ignoreProgress,
): Promise<QueryResult> {
  const started = Date.now();
  assertSingleRead(options.sql);
  const timeoutMs = queryTimeout(ctx, options.timeoutMs);
  const tenants = await selectTenants(ctx, selection, 'query');
  await assertTenantCodeTrusted(ctx, tenants, 'query');
  const outcomes: QueryOutcome[] = new Array(tenants.length);
  const indexOf = new Map(tenants.map((t, i) => [t.id, i]));
  const progress = progressCounter(tenants.length, onProgress, started);
  const aggregator = options.aggregate ? new Aggregator(options.aggregate) : undefined;
  const settle = (tenant: TenantWithServer, outcome: QueryOutcome) => {
    outcomes[indexOf.get(tenant.id)!] = outcome;
    progress(outcome.outcome !== 'ok');
  };
  const fleet = await reachFleet(ctx, tenants);
  for (const { tenant, error } of fleet.unreachable)
    settle(tenant, outcomeOf(tenant, 'unreachable', 0, started, error.message));
  await runPool(
    fleet.reachable,
    options.concurrency,
    async (tenant) => settle(tenant, await readTenant(ctx, tenant, selection, { ...options, timeoutMs }, aggregator)),
    {
      keyOf: (tenant) => tenant.server_id,
      limitOf: serverLimit(ctx, tenants, options.concurrency),
      shouldStop: () => stopping(options.interrupt),
      onSkipped: (tenant) =>
        settle(
          tenant,
          outcomeOf(tenant, 'skipped', 0, Date.now(), `not started: stopped by ${stoppedBy(options.interrupt)}`),
        ),
    },
  );
  return fleetResult(ctx, fleet, outcomes, started, aggregator, options.interrupt);
}

/** `--timeout`: within the configured statementTimeout, which bounds every session of tenantctl's own. */
function queryTimeout(ctx: Context, timeoutMs = DEFAULT_QUERY_TIMEOUT_MS): number {
  const limit = parseDuration(ctx.config.statementTimeout, 'statementTimeout');
  if (timeoutMs <= 0) throw new UsageError('--timeout must be more than 0');
  if (timeoutMs > limit)
    throw new UsageError(
      `--timeout ${timeoutMs / 1000}s is longer than statementTimeout (${ctx.config.statementTimeout}), which bounds every statement of tenantctl's: raise statementTimeout for this run (TENANTCTL_STATEMENT_TIMEOUT)`,
    );
  return timeoutMs;
}

/** One tenant, as the registry has it now: read, its rows handed on. */
async function readTenant(
  ctx: Context,
  listed: TenantWithServer,
  selection: TenantSelection,
  options: QueryFleetOptions & { timeoutMs: number },
  aggregator: Aggregator | undefined,
): Promise<QueryOutcome> {
  const started = Date.now();
  const fresh = await freshTenant(ctx, listed, selection);
  if ('outcome' in fresh)
    return outcomeOf(listed, fresh.outcome === 'moved' ? 'skipped' : fresh.outcome, 0, started, fresh.reason);
  const tenant = fresh.now;
  // An operation under way on it (a restore replacing its database, a suspension): not read half-done.
  if (tenant.step) return outcomeOf(tenant, 'busy', 0, started, `busy: ${tenant.step} in progress`);
  try {
    const server = await ctx.server(tenant.server_id);
    const answer = await server.connection.readOnlyQuery(tenantLogin(ctx, server, tenant), options.sql, {
      bindings: options.params,
      timeoutMs: options.timeoutMs,
    });
    aggregator?.add(answer.rows);
    await options.onRows?.({ slug: tenant.slug, server: tenant.server_name, ...answer });
    return outcomeOf(tenant, 'ok', answer.rows.length, started);
  } catch (error) {
    if (isOutage(error) && (await ctx.unansweredServer(tenant.server_id)))
      return outcomeOf(tenant, 'unreachable', 0, started, outageMessage(tenant, error));
    if (error instanceof LockedError) return outcomeOf(tenant, 'busy', 0, started, errorMessage(error));
    return outcomeOf(tenant, 'failed', 0, started, errorMessage(error));
  }
}

function outcomeOf(
  tenant: TenantWithServer,
  outcome: QueryOutcomeKind,
  rows: number,
  started: number,
  error?: string,
): QueryOutcome {
  return {
    slug: tenant.slug,
    server: tenant.server_name,
    outcome,
    rows,
    ...(error ? { error } : {}),
    durationMs: Date.now() - started,
  };
}

function fleetResult(
  ctx: Context,
  fleet: Awaited<ReturnType<typeof reachFleet>>,
  outcomes: QueryOutcome[],
  started: number,
  aggregator: Aggregator | undefined,
  interrupt: RunInterrupt | undefined,
): QueryResult {
  const counts = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<QueryOutcomeKind, number>;
  for (const o of outcomes) counts[o.outcome]++;
  const interrupted = stoppedBy(interrupt);
  return {
    ok: counts.ok === outcomes.length && !interrupted,
    total: outcomes.length,
    counts,
    rowCount: outcomes.reduce((sum, o) => sum + o.rows, 0),
    tenants: outcomes,
    unreachableServers: runOutages(ctx, fleet, outcomes),
    durationMs: Date.now() - started,
    ...(aggregator ? { aggregate: aggregator.result() } : {}),
    ...(interrupted ? { interrupted } : {}),
  };
}
