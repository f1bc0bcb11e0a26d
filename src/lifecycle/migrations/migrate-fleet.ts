import type { Context } from '../../context/context.js';
import { TamperedTableError } from '../../core/errors.js';
import { ignoreProgress, type FleetProgress } from '../../core/fleet-run.js';
import { stoppedBy } from '../../core/run-interrupt.js';
import type { HeldLock } from '../../engines/engine-driver.js';
import type { Registry } from '../../registry/registry.js';
import { finishRun, type RunKind } from '../../registry/runs-repo.js';
import type { TenantWithServer } from '../../registry/tenants-repo.js';
import type { DirectoryMigrationSource } from '../../tenant-schema/migration-source.js';
import { assertProjectDirectories, tenantProject, type TenantProject } from '../../tenant-schema/tenant-project.js';
import { migrationFingerprint } from '../../tenant-schema/run-migrations.js';
import { reachFleet, runOutages, serverLimit, type FleetServers } from '../shared/fleet-servers.js';
import { openTenantLockPool } from '../shared/tenant-lock-pool.js';
import { readAppliedInBulk, readFingerprints } from './applied-in-bulk.js';
import { MIGRATIONS_LOCK, withFleetLock } from './fleet-lock.js';
import { planFleetRun, type FleetPlan } from './fleet-plan.js';
import { FleetTally } from './fleet-tally.js';
import {
  settledAs,
  type MigrateFleetOptions,
  type MigrateFleetResult,
  type Settled,
  type TenantOutcomeKind,
} from './fleet-types.js';
import { attemptTenant, judge, type KnownMigrations, type TenantMigration } from './migrate-tenant.js';
import { retryRegistry } from './registry-retry.js';
import { runRollout } from './rollout-run.js';
import { RunStop } from './run-stop.js';

export type {
  MigrateFleetOptions,
  MigrateFleetResult,
  TenantMigrationOutcome,
  TenantOutcomeKind,
  WaveSummary,
} from './fleet-types.js';
export { readAppliedInBulk } from './applied-in-bulk.js';

/** First wait before a tenant that hit the lock timeout is tried again; doubles each time. */
const LOCK_RETRY_BACKOFF_MS = 1000;

/** A tenant its worker still has to open: what the run knows of it already. */
type WorkItem = KnownMigrations & { tenant: TenantWithServer };

/**
 * Migrates (or rolls back) every selected tenant, `concurrency` at a time from one queue. A
 * failing tenant does not stop the others unless `failFast`. A tenant already up to date costs one
 * query: on MySQL one bulk read per server finds them all without opening any; elsewhere the
 * worker asks on the connection it would migrate with. Returns every tenant's outcome; the run
 * and the outcomes are stored in the registry.
 */
export async function migrateFleet(
  ctx: Context,
  options: MigrateFleetOptions,
  onProgress: (progress: FleetProgress) => void = ignoreProgress,
): Promise<MigrateFleetResult> {
  const started = Date.now();
  const kind: RunKind = options.direction === 'up' ? 'migrate' : 'rollback';
  const project = await tenantProject(ctx);
  assertProjectDirectories(project, { migrations: true, seeds: false });
  const source = project.source();
  const available = source.list();
  const start = { kind, options, project, source, available, started, onProgress };
  const body = (lock?: HeldLock) => runFleet(ctx, start, lock);
  // A dry run changes nothing, so it needs no lock and never waits behind a real run.
  if (options.dryRun) return body();
  return withFleetLock(ctx, MIGRATIONS_LOCK, options.waitMs ?? 0, 'migration run', body);
}

/** What migrateFleet was asked, as its run begins. */
interface FleetStart {
  kind: RunKind;
  options: MigrateFleetOptions;
  project: TenantProject;
  source: DirectoryMigrationSource;
  /** The migrations in the migrations directory, in order. */
  available: string[];
  started: number;
  onProgress: (progress: FleetProgress) => void;
}

/** The run, under the fleet lock (none in a dry run): plan, settle what is known, run the waves, finish. */
async function runFleet(ctx: Context, start: FleetStart, lock?: HeldLock): Promise<MigrateFleetResult> {
  const registry = await ctx.registry();
  const stop = new RunStop(lock?.lost, start.options.interrupt);
  const plan = await planFleetRun(ctx, registry, start.kind, start.options);
  const fleet = await reachFleet(ctx, plan.tenants);
  const tally = new FleetTally(plan, start.started, registry, () => stop.retryBudget(), start.onProgress);
  // Every tenant worked on is locked, so no restore or delete runs under its migration.
  const locks = plan.options.dryRun ? undefined : await openTenantLockPool(ctx);
  const available = start.available;
  const { project, source } = start;
  const several = plan.tenants.length > 1 && plan.options.concurrency > 1;
  const run: TenantMigration = {
    ctx,
    registry,
    project,
    source,
    available,
    options: plan.options,
    locks,
    stop,
    several,
  };
  let halted: string | undefined;
  let closed: Awaited<ReturnType<FleetTally['close']>> = { unrecorded: 0 };
  try {
    const work = await settleKnown(run, fleet, tally);
    halted = await runWaves(run, plan, tally, work);
  } finally {
    // Whatever happened, what the tenants did is written (tried again for a while once the registry was lost).
    closed = await tally.close();
    await locks?.close();
  }
  const counts = tally.counts();
  const interrupted = stop.registryLost ? undefined : stoppedBy(plan.options.interrupt);
  // A failed write fails the run, unless the registry was lost (then the result says how many).
  if (closed.unrecorded && !stop.registryLost) throw closed.error;
  if (plan.runId !== null) await recordFinish(registry, plan.runId, counts, halted, interrupted, stop);
  const lost = stop.registryLost;
  return {
    runId: plan.runId,
    kind: start.kind,
    dryRun: Boolean(plan.options.dryRun),
    ok: counts.failed + counts.skipped + counts.unreachable + counts.busy === 0 && !interrupted && !lost,
    total: plan.tenants.length,
    counts,
    available,
    knex: start.project.knex.used,
    tenants: tally.outcomes,
    unreachableServers: runOutages(ctx, fleet, tally.outcomes),
    durationMs: Date.now() - start.started,
    ...(plan.staged
      ? { waves: plan.waves.map((w) => ({ number: w.number, name: w.name, tenants: w.tenants.length })) }
      : {}),
    ...(halted && !interrupted && !lost ? { halted } : {}),
    ...(plan.options.resumedFrom !== undefined ? { resumedFrom: plan.options.resumedFrom } : {}),
    ...(interrupted ? { interrupted } : {}),
    ...(lost ? { registryLost: { error: stop.lostReason(), unrecorded: closed.unrecorded } } : {}),
  };
}

/**
 * Tenants with nothing to do are found without opening them where the server allows: MySQL reads
 * every migration table in one query per batch; PostgreSQL keeps a fingerprint of each tenant's
 * migrations readable in one query. Those, and the tenants of unreachable servers, are settled
 * here; the rest are returned, to be checked by their worker on the connection it would migrate with.
 */
async function settleKnown(
  run: TenantMigration,
  fleet: FleetServers<TenantWithServer>,
  tally: FleetTally,
): Promise<WorkItem[]> {
  for (const { tenant, error } of fleet.unreachable)
    await tally.settle(tenant, settledAs('unreachable', error.message));
  const { ctx, options, available } = run;
  const reachable = fleet.reachable;
  const up = options.direction === 'up';
  const known = up ? await readAppliedInBulk(ctx, reachable, options.concurrency, true) : new Map();
  const fingerprints = up ? await readFingerprints(ctx, reachable) : new Map<number, Map<string, string | null>>();
  const current = migrationFingerprint(available);
  const work: WorkItem[] = [];
  for (const tenant of reachable) {
    const applied = known.get(tenant.server_id)?.get(tenant.database_name);
    const fingerprint = fingerprints.get(tenant.server_id)?.get(tenant.database_name);
    const settled: Settled | undefined =
      fingerprint === current
        ? settledAs('up_to_date')
        : applied === undefined
          ? undefined
          : judge(available, applied, options, run.project.migrationsDir);
    if (settled) await tally.settle(tenant, settled);
    // A tampered history was settled (failed) by judge: what is left is a list, null or unread.
    else
      work.push({
        tenant,
        applied: applied as Exclude<typeof applied, TamperedTableError>,
        fingerprinted: typeof fingerprint === 'string',
      });
  }
  return work;
}

/** The tenants left, wave after wave (see runRollout); returns why the run halted, if it did. */
function runWaves(
  run: TenantMigration,
  plan: FleetPlan,
  tally: FleetTally,
  work: WorkItem[],
): Promise<string | undefined> {
  const { ctx, options, stop } = run;
  const workOf = new Map<number, WorkItem[]>();
  for (const item of work) {
    const wave = plan.waveOf.get(item.tenant.id)!;
    // Pushed, not copied: a copy per tenant is quadratic in the fleet's size.
    const items = workOf.get(wave);
    if (items) items.push(item);
    else workOf.set(wave, [item]);
  }
  const widest = Math.max(options.concurrency, ...plan.waves.map((w) => w.concurrency ?? 0));
  return runRollout<WorkItem, Settled>(plan.waves, {
    concurrency: options.concurrency,
    maxFailures: plan.maxFailures,
    staged: plan.staged,
    failFast: () => Boolean(options.failFast) && tally.failed > 0,
    pauseMs: options.pauseMs ?? 0,
    lockRetries: options.lockRetries ?? 0,
    retryBackoffMs: LOCK_RETRY_BACKOFF_MS,
    keyOf: ({ tenant }) => tenant.server_id,
    limitOf: serverLimit(ctx, plan.tenants, widest),
    workOf: (wave) => workOf.get(wave.number) ?? [],
    stopSignal: stop.stopSignal,
    stopped: () => stop.reason(),
    attempt: ({ tenant, applied, fingerprinted }) => attemptTenant(run, tenant, { applied, fingerprinted }),
    settle: ({ tenant }, result) => tally.settle(tenant, result),
    skip: ({ tenant }, reason) => tally.settle(tenant, settledAs('skipped', reason)),
    failures: () => tally.failures,
    outcomesOf: (wave) => wave.tenants.map((t) => tally.outcomeOf(t as TenantWithServer)),
    onWave: (wave) => tally.startWave(wave),
    onPause: (next, left) => tally.pausing(next, left),
  });
}

/** The run's record completed; once the registry was lost, tried again for a while and then given up. */
async function recordFinish(
  registry: Registry,
  runId: number,
  counts: Record<TenantOutcomeKind, number>,
  halted: string | undefined,
  interrupted: string | undefined,
  stop: RunStop,
): Promise<void> {
  const finishing = () =>
    finishRun(
      registry.knex,
      runId,
      {
        succeeded: counts.migrated + counts.rolled_back + counts.up_to_date,
        failed: counts.failed + counts.unreachable,
        skipped: counts.skipped + counts.busy + counts.moved,
      },
      halted,
      stop.registryLost || interrupted ? stop.reason() : undefined,
    );
  if (stop.registryLost) await retryRegistry(registry, finishing, stop.retryBudget()).catch(() => undefined);
  else await finishing();
}
