import type { Context } from '../../context/context.js';
import type { Registry } from '../../registry/registry.js';
import { markInterruptedRuns, startRun, type RunKind } from '../../registry/runs-repo.js';
import type { TenantWithServer } from '../../registry/tenants-repo.js';
import { selectTenants } from '../shared/select-tenants.js';
import { assertTenantCodeTrusted } from '../shared/tenant-login.js';
import type { MigrateFleetOptions } from './fleet-types.js';
import { resumePoint } from './resume-run.js';
import { parseFailureBudget, planWaves, type Wave } from './rollout-plan.js';

/** What a migration run will work on, decided before any tenant is touched. */
export interface FleetPlan {
  kind: RunKind;
  /** The options the run goes by: a resumed run's are those stored with the run it continues. */
  options: MigrateFleetOptions;
  /** Canary or waves: outcomes name their wave, the result lists the waves. */
  staged: boolean;
  /** The waves, without the tenants a resumed run already finished. */
  waves: Array<Wave<TenantWithServer>>;
  /** Every tenant of the run, wave after wave. */
  tenants: TenantWithServer[];
  /** Each tenant's wave number, by tenant id. */
  waveOf: Map<number, number>;
  /** `--max-failures` as a count of this run's tenants. */
  maxFailures?: number;
  /** The run as recorded in the registry; null for a dry run. */
  runId: number | null;
}

/**
 * Which tenants, in which waves, from where (`--resume`: the stored run's options, less the tenants
 * it and the runs it resumed finished); then the run is recorded (unless a dry run).
 */
export async function planFleetRun(
  ctx: Context,
  registry: Registry,
  kind: RunKind,
  asked: MigrateFleetOptions,
): Promise<FleetPlan> {
  const { options, finished } = await resumed(registry, kind, asked);
  const staged = options.canary !== undefined || options.waves !== undefined;
  const selected = await selectTenants(ctx, options, kind);
  await assertTenantCodeTrusted(ctx, selected, kind === 'migrate' ? 'migrate-all' : 'rollback');
  // Waves are planned on the whole selection, so a resumed run keeps its waves.
  const waves = planWaves(selected, options).map((w) => ({
    ...w,
    tenants: w.tenants.filter((t) => !finished.has(t.id)),
  }));
  const tenants = waves.flatMap((w) => w.tenants);
  const waveOf = new Map(waves.flatMap((w) => w.tenants.map((t) => [t.id, w.number] as const)));
  const maxFailures =
    options.maxFailures === undefined ? undefined : parseFailureBudget(options.maxFailures, tenants.length);
  let runId: number | null = null;
  if (!options.dryRun) {
    await markInterruptedRuns(registry.knex, kind);
    runId = await startRun(registry.knex, kind, runOptions(ctx, options), tenants.length, waves.length || 1);
  }
  return { kind, options, staged, waves, tenants, waveOf, maxFailures, runId };
}

/** `--resume <id>`: the stored run's options (this run's direction, dry run, wait, interrupt) and what it finished. */
async function resumed(
  registry: Registry,
  kind: RunKind,
  options: MigrateFleetOptions,
): Promise<{ options: MigrateFleetOptions; finished: Set<number> }> {
  if (options.resume === undefined) return { options, finished: new Set() };
  if (!options.dryRun) await markInterruptedRuns(registry.knex, kind);
  const point = await resumePoint(registry.knex, kind, options.resume);
  return {
    finished: point.finished,
    options: {
      ...point.options,
      direction: options.direction,
      concurrency: point.options.concurrency ?? options.concurrency,
      dryRun: options.dryRun,
      waitMs: options.waitMs,
      interrupt: options.interrupt,
      retryFailed: false,
      // A resumed run backs up first if either run was asked to.
      backupFirst: Boolean(point.options.backupFirst) || options.backupFirst,
      resume: undefined,
      resumedFrom: options.resume,
    },
  };
}

/** What a run stores as its options (see StoredRunOptions): enough to run it again the same way. */
function runOptions(ctx: Context, options: MigrateFleetOptions): object {
  const { direction, concurrency, failFast, slugs, statuses, plans, servers, retryFailed, backupFirst } = options;
  const { canary, waves, pauseMs, maxFailures, lockTimeoutMs, lockRetries, tenantTimeoutMs, resumedFrom } = options;
  const rollout = { canary, waves, pauseMs, maxFailures, lockTimeoutMs, lockRetries, tenantTimeoutMs, resumedFrom };
  return {
    direction,
    concurrency,
    perServer: ctx.config.perServer,
    failFast,
    slugs,
    statuses,
    plans,
    servers,
    retryFailed,
    backupFirst,
    ...rollout,
  };
}
