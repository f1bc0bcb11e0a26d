import { hostname, userInfo } from 'node:os';
import type { Knex } from 'knex';
import { now } from './tenants-repo.js';

const RUNS = 'tenantctl_runs';
const OUTCOMES = 'tenantctl_run_tenants';

/** `exec`: an operator's data fix or script over the fleet (`tenantctl exec`); `seed`: `tenantctl seed`. */
export type RunKind = 'migrate' | 'rollback' | 'exec' | 'seed';
/** `halted`: stopped on its failure budget or a failed canary; `reason` says which. */
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'interrupted' | 'halted';
export type Outcome =
  | 'migrated'
  | 'rolled_back'
  | 'up_to_date'
  | 'executed'
  | 'seeded'
  | 'failed'
  | 'unreachable'
  | 'skipped'
  | 'busy'
  | 'moved'
  /** exec: recorded right before the tenant's commit; still there afterwards, the commit is in doubt. */
  | 'committing';

export interface RunRow {
  id: number;
  kind: RunKind;
  status: RunStatus;
  options: string;
  host: string;
  pid: number;
  total: number;
  succeeded: number;
  failed: number;
  skipped: number;
  started_at: string;
  finished_at: string | null;
  /** The OS user who started it; null for runs recorded before it was kept. */
  started_by: string | null;
  /** How many waves it ran in; null for runs recorded before waves existed. */
  waves: number | null;
  /** Why it halted. */
  reason: string | null;
}

export interface OutcomeRow {
  run_id: number;
  tenant_id: number;
  slug: string;
  outcome: Outcome;
  /** JSON: e.g. the migrations applied. */
  detail: string | null;
  error: string | null;
  duration_ms: number;
  finished_at: string;
  /** The wave (1-based) the tenant was in; null for runs recorded before waves existed. */
  wave?: number | null;
}

/** Records a run before it acts, so a killed run is visible afterwards. */
export async function startRun(knex: Knex, kind: RunKind, options: object, total: number, waves = 1): Promise<number> {
  const row = {
    kind,
    status: 'running',
    options: JSON.stringify(options),
    host: hostname(),
    pid: process.pid,
    total,
    started_at: now(),
    started_by: osUser(),
    waves,
  };
  const [inserted] = await knex(RUNS).insert(row, ['id']);
  const id = typeof inserted === 'object' ? (inserted as { id: number }).id : inserted;
  return Number(id);
}

/**
 * With `halted`, the run is marked `halted` with that reason; with `interrupted` (stopped by a
 * signal, or by losing the registry), `interrupted` with that reason, which `--resume` continues.
 */
export async function finishRun(
  knex: Knex,
  id: number,
  counts: { succeeded: number; failed: number; skipped: number },
  halted?: string,
  interrupted?: string,
): Promise<RunStatus> {
  const status: RunStatus = interrupted
    ? 'interrupted'
    : halted
      ? 'halted'
      : counts.failed > 0
        ? 'failed'
        : 'succeeded';
  const reason = interrupted ?? halted;
  await knex(RUNS)
    .where({ id })
    .update({ ...counts, status, finished_at: now(), ...(reason ? { reason } : {}) });
  return status;
}

function osUser(): string | null {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? null;
  }
}

/**
 * Runs still marked `running` when the caller holds the lock every such run holds cannot be
 * running: they were killed. Marks them so.
 */
export async function markInterruptedRuns(knex: Knex, kind: RunKind): Promise<number> {
  return knex(RUNS).where({ kind, status: 'running' }).update({ status: 'interrupted', finished_at: now() });
}

/** These runs were found killed (their process is gone): marked `interrupted`. */
export async function markRunsInterrupted(knex: Knex, ids: number[]): Promise<void> {
  if (ids.length) await knex(RUNS).whereIn('id', ids).update({ status: 'interrupted', finished_at: now() });
}

/** Stores outcomes in one statement per chunk: a thousand tenants cost a handful of writes. */
export async function recordOutcomes(knex: Knex, rows: OutcomeRow[]): Promise<void> {
  if (rows.length) await knex.batchInsert(OUTCOMES, rows, 200);
}

/** Stores one outcome at once (not batched) and returns its id: exec's `committing` mark, see execTenant. */
export async function recordOutcomeNow(knex: Knex, row: OutcomeRow): Promise<number> {
  const [inserted] = await knex(OUTCOMES).insert(row, ['id']);
  return Number(typeof inserted === 'object' ? (inserted as { id: number }).id : inserted);
}

/** Replaces a stored outcome (exec's `committing` mark, once the commit is known). */
export async function updateOutcome(
  knex: Knex,
  id: number,
  fields: Pick<OutcomeRow, 'outcome' | 'detail' | 'error' | 'duration_ms' | 'finished_at'>,
): Promise<void> {
  await knex(OUTCOMES).where({ id }).update(fields);
}

/** Tenant ids and slugs whose outcome in the given run is one of `outcomes`. */
export async function tenantsWithOutcome(
  knex: Knex,
  runId: number,
  outcomes: Outcome[],
): Promise<Array<{ tenant_id: number; slug: string }>> {
  const rows = (await knex(OUTCOMES)
    .where({ run_id: runId })
    .whereIn('outcome', outcomes)
    .select('tenant_id', 'slug')) as Array<{
    tenant_id: number;
    slug: string;
  }>;
  return rows.map((r) => ({ tenant_id: Number(r.tenant_id), slug: r.slug }));
}

/** The most recent runs (of one kind, if given), newest first. */
export async function listRunRows(knex: Knex, options: { limit: number; kind?: RunKind }): Promise<RunRow[]> {
  const query = knex<RunRow>(RUNS).orderBy('id', 'desc').limit(options.limit);
  if (options.kind) query.where({ kind: options.kind });
  return query;
}

export async function findRunRow(knex: Knex, id: number): Promise<RunRow | undefined> {
  return knex<RunRow>(RUNS).where({ id }).first();
}

/** Every tenant outcome a run recorded, in the order it recorded them. */
export async function runOutcomeRows(knex: Knex, runId: number): Promise<OutcomeRow[]> {
  return (await knex(OUTCOMES).where({ run_id: runId }).orderBy('id')) as OutcomeRow[];
}

export async function lastRun(knex: Knex, kind: RunKind): Promise<RunRow | undefined> {
  return knex<RunRow>(RUNS).where({ kind }).whereNot({ status: 'running' }).orderBy('id', 'desc').first();
}

/**
 * Tenant ids whose outcome in the given run was `failed`, `unreachable` (its server was down) or `busy` (locked by
 * another operation).
 */
export async function failedTenantIds(knex: Knex, runId: number): Promise<number[]> {
  return (
    await knex(OUTCOMES)
      .where({ run_id: runId })
      .whereIn('outcome', ['failed', 'unreachable', 'busy'])
      .pluck('tenant_id')
  ).map(Number);
}

/** Tenant ids whose outcome in the given run was a success (`migrated`, `rolled_back`, `up_to_date`, `executed`). */
export async function succeededTenantIds(knex: Knex, runId: number): Promise<number[]> {
  return (
    await knex(OUTCOMES)
      .where({ run_id: runId })
      .whereIn('outcome', ['migrated', 'rolled_back', 'up_to_date', 'executed'])
      .pluck('tenant_id')
  ).map(Number);
}

/** Each tenant's outcome in its most recent run of a kind, with that run's time. */
export async function latestOutcomes(knex: Knex, kind: RunKind): Promise<Map<number, OutcomeRow>> {
  const latest = knex(OUTCOMES)
    .join(RUNS, `${RUNS}.id`, `${OUTCOMES}.run_id`)
    .where(`${RUNS}.kind`, kind)
    .groupBy(`${OUTCOMES}.tenant_id`)
    .select(`${OUTCOMES}.tenant_id`)
    .max({ run_id: `${OUTCOMES}.run_id` });
  const rows = (await knex(OUTCOMES)
    .join(latest.as('l'), function on() {
      this.on('l.tenant_id', '=', `${OUTCOMES}.tenant_id`).andOn('l.run_id', '=', `${OUTCOMES}.run_id`);
    })
    .select(`${OUTCOMES}.*`)) as OutcomeRow[];
  return new Map(rows.map((row) => [Number(row.tenant_id), row]));
}
