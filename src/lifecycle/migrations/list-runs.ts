import type { Context } from '../../context/context.js';
import { NotFoundError } from '../../core/errors.js';
import {
  findRunRow,
  listRunRows,
  runOutcomeRows,
  type RunKind,
  type RunRow,
  type RunStatus,
} from '../../registry/runs-repo.js';

/** One recorded fleet run (migrate-all, rollback --all), as `runs` lists it. */
export interface RunSummary {
  id: number;
  kind: RunKind;
  status: RunStatus;
  /** The OS user who started it, and where; null for runs recorded before it was kept. */
  startedBy: string | null;
  host: string;
  startedAt: string;
  finishedAt: string | null;
  /** Waves it ran in (1 for an unstaged run). */
  waves: number;
  total: number;
  succeeded: number;
  failed: number;
  skipped: number;
  /** Why it halted. */
  reason: string | null;
  /** The run it resumed (`--resume`). */
  resumedFrom: number | null;
  /** The options it ran with (selection, waves, budget, timeouts). */
  options: Record<string, unknown>;
}

export interface RunTenantOutcome {
  slug: string;
  wave: number | null;
  outcome: string;
  migrations: string[];
  error: string | null;
  durationMs: number;
  finishedAt: string;
}

/** One run with every tenant outcome, by wave. */
export interface RunDetail extends RunSummary {
  byWave: Array<{ wave: number | null; counts: Record<string, number>; tenants: RunTenantOutcome[] }>;
}

/** The most recent runs, newest first. */
export async function listRuns(ctx: Context, options: { limit: number; kind?: RunKind }): Promise<RunSummary[]> {
  const registry = await ctx.registry();
  return (await listRunRows(registry.knex, options)).map(summary);
}

export async function showRun(ctx: Context, id: number): Promise<RunDetail> {
  const registry = await ctx.registry();
  const run = await findRunRow(registry.knex, id);
  if (!run) throw new NotFoundError(`no run #${id} in the registry`);
  const rows = await runOutcomeRows(registry.knex, id);
  const waves = new Map<number | null, RunTenantOutcome[]>();
  for (const row of rows) {
    const wave = row.wave === null || row.wave === undefined ? null : Number(row.wave);
    const tenants = waves.get(wave) ?? [];
    tenants.push({
      slug: row.slug,
      wave,
      outcome: row.outcome,
      migrations: row.detail ? (JSON.parse(row.detail) as string[]) : [],
      error: row.error,
      durationMs: Number(row.duration_ms),
      finishedAt: row.finished_at,
    });
    waves.set(wave, tenants);
  }
  const byWave = [...waves.entries()]
    .sort(([a], [b]) => (a ?? 0) - (b ?? 0))
    .map(([wave, tenants]) => {
      const counts: Record<string, number> = {};
      for (const t of tenants) counts[t.outcome] = (counts[t.outcome] ?? 0) + 1;
      return { wave, counts, tenants };
    });
  return { ...summary(run), byWave };
}

function summary(run: RunRow): RunSummary {
  const options = JSON.parse(run.options) as Record<string, unknown>;
  return {
    id: Number(run.id),
    kind: run.kind,
    status: run.status,
    startedBy: run.started_by,
    host: run.host,
    startedAt: run.started_at,
    finishedAt: run.finished_at,
    waves: Number(run.waves ?? 1),
    total: Number(run.total),
    succeeded: Number(run.succeeded),
    failed: Number(run.failed),
    skipped: Number(run.skipped),
    reason: run.reason,
    resumedFrom: typeof options.resumedFrom === 'number' ? options.resumedFrom : null,
    options,
  };
}
