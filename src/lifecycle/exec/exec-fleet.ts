import type { Context } from '../../context/context.js';
import { ignoreProgress, type FleetProgress } from '../../core/fleet-run.js';
import { stoppedBy } from '../../core/run-interrupt.js';
import type { HeldLock } from '../../engines/engine-driver.js';
import type { Registry } from '../../registry/registry.js';
import { findRunRow, finishRun, markInterruptedRuns, startRun, tenantsWithOutcome } from '../../registry/runs-repo.js';
import type { TenantWithServer } from '../../registry/tenants-repo.js';
import { tenantProject } from '../../tenant-schema/tenant-project.js';
import { withFleetLock } from '../migrations/fleet-lock.js';
import { retryRegistry } from '../migrations/registry-retry.js';
import { resumePoint } from '../migrations/resume-run.js';
import { parseFailureBudget, planWaves, type Wave } from '../migrations/rollout-plan.js';
import { runRollout } from '../migrations/rollout-run.js';
import { RunStop } from '../migrations/run-stop.js';
import { reachFleet, runOutages, serverLimit } from '../shared/fleet-servers.js';
import { selectTenants } from '../shared/select-tenants.js';
import { openTenantLockPool } from '../shared/tenant-lock-pool.js';
import { assertTenantCodeTrusted } from '../shared/tenant-login.js';
import { execTenant, type TenantExec } from './exec-tenant.js';
import { ExecTally } from './exec-tally.js';
import { execSettled, type ExecFleetOptions, type ExecFleetResult, type ExecSettled } from './exec-types.js';
import { loadExecWork, type ExecWork } from './exec-work.js';

/** Held by every exec run (dry runs too: they run the statements), so killed runs are known to be dead. */
export const EXEC_LOCK = 'tenantctl:exec';

const LOCK_RETRY_BACKOFF_MS = 1000;

/** What an exec run stores as its options: enough to resume it the same way, on the same file. */
interface StoredExecOptions extends Omit<ExecFleetOptions, 'interrupt' | 'dryRun' | 'waitMs'> {
  work: { kind: 'sql' | 'script'; file: string; sha256: string };
}

/** How many tenants `exec` would work on (the CLI asks at a terminal before it runs). */
export async function countExecTenants(ctx: Context, options: ExecFleetOptions): Promise<number> {
  if (options.resume !== undefined) {
    const registry = await ctx.registry();
    // A killed run is still marked running: when no exec runs now, it is marked interrupted.
    const lock = await registry.tryLock(EXEC_LOCK, 0);
    if (lock) await markInterruptedRuns(registry.knex, 'exec').finally(() => lock.release());
    const point = await resumePoint(registry.knex, 'exec', options.resume);
    const selected = await selectTenants(ctx, point.options, 'exec');
    return selected.filter((t) => !point.finished.has(t.id)).length;
  }
  return (await selectTenants(ctx, options, 'exec')).length;
}

/**
 * Runs an operator's SQL file or script on every selected tenant, as a recorded run: the run is
 * stored before any tenant is touched and each tenant's outcome as it settles, so `--resume`
 * continues a killed or halted run with the tenants it did not finish, never one twice. Each
 * tenant: its lock held, its row read again, its own user, one transaction (committed; rolled
 * back on failure and in a dry run). Canary, waves, failure budget, lock and tenant timeouts as
 * `migrate-all`'s. A dry run records no run.
 */
export async function execFleet(
  ctx: Context,
  asked: ExecFleetOptions,
  onProgress: (progress: FleetProgress) => void = ignoreProgress,
): Promise<ExecFleetResult> {
  const started = Date.now();
  const registry = await ctx.registry();
  return withFleetLock(ctx, EXEC_LOCK, asked.waitMs ?? 0, 'exec run', async (lock) => {
    // Under the exec lock: a run still marked running was killed (so it can be resumed).
    await markInterruptedRuns(registry.knex, 'exec');
    const { options, finished, stored, inDoubt } = await resumed(registry, asked);
    // Read and checked before any tenant: a bad file changes nothing. Resumed: the run's own
    // file, unless the operator names it again (then it must be the same bytes).
    const spec =
      stored && !asked.sqlFile && !asked.script
        ? stored.work.kind === 'sql'
          ? { sqlFile: stored.work.file }
          : { script: stored.work.file }
        : options;
    const work = await loadExecWork(spec, stored?.work.sha256);
    return runExec(ctx, registry, { options, finished, inDoubt, work, started, onProgress }, lock);
  });
}

interface ExecStart {
  options: ExecFleetOptions;
  finished: Set<number>;
  inDoubt: string[];
  work: ExecWork;
  started: number;
  onProgress: (progress: FleetProgress) => void;
}

async function runExec(ctx: Context, registry: Registry, start: ExecStart, lock: HeldLock): Promise<ExecFleetResult> {
  const { options, work } = start;
  const project = await tenantProject(ctx);
  const selected = await selectTenants(ctx, options, 'exec');
  await assertTenantCodeTrusted(ctx, selected, 'exec');
  const staged = options.canary !== undefined || options.waves !== undefined;
  const waves = planWaves(selected, options).map((w) => ({
    ...w,
    tenants: w.tenants.filter((t) => !start.finished.has(t.id)),
  }));
  const tenants = waves.flatMap((w) => w.tenants);
  const waveOf = new Map(waves.flatMap((w) => w.tenants.map((t) => [t.id, w.number] as const)));
  const maxFailures =
    options.maxFailures === undefined ? undefined : parseFailureBudget(options.maxFailures, tenants.length);
  let runId: number | null = null;
  if (!options.dryRun) {
    runId = await startRun(registry.knex, 'exec', storedOptions(options, work), tenants.length, waves.length || 1);
  }
  const stop = new RunStop(lock.lost, options.interrupt);
  const tally = new ExecTally(
    tenants,
    waveOf,
    staged,
    waves.length,
    runId,
    start.started,
    registry,
    () => stop.retryBudget(),
    start.onProgress,
  );
  const fleet = await reachFleet(ctx, tenants);
  const locks = await openTenantLockPool(ctx);
  const run: TenantExec = {
    ctx,
    registry,
    project,
    work,
    options,
    locks,
    stop,
    runId,
    several: tenants.length > 1 && options.concurrency > 1,
  };
  let halted: string | undefined;
  let closed: { unrecorded: number; error?: unknown } = { unrecorded: 0 };
  try {
    for (const { tenant, error } of fleet.unreachable)
      await tally.settle(tenant, execSettled('unreachable', error.message));
    const reachable = new Set(fleet.reachable.map((t) => t.id));
    const widest = Math.max(options.concurrency, ...waves.map((w) => w.concurrency ?? 0));
    halted = await runRollout<TenantWithServer, ExecSettled>(waves, {
      concurrency: options.concurrency,
      maxFailures,
      staged,
      failFast: () => false,
      pauseMs: options.pauseMs ?? 0,
      lockRetries: options.lockRetries ?? 0,
      retryBackoffMs: LOCK_RETRY_BACKOFF_MS,
      keyOf: (tenant) => tenant.server_id,
      limitOf: serverLimit(ctx, tenants, widest),
      workOf: (wave) => (wave as Wave<TenantWithServer>).tenants.filter((t) => reachable.has(t.id)),
      stopSignal: stop.stopSignal,
      stopped: () => stop.reason(),
      attempt: (tenant) => execTenant(run, tenant),
      settle: (tenant, settled) => tally.settle(tenant, settled),
      skip: (tenant, reason) => tally.settle(tenant, execSettled('skipped', reason)),
      failures: () => tally.failures,
      outcomesOf: (wave) => wave.tenants.map((t) => tally.outcomeOf(t as TenantWithServer)),
      onWave: (wave) => tally.startWave(wave),
      onPause: (next, left) => tally.pausing(next, left),
    });
  } finally {
    closed = await tally.close();
    await locks.close();
  }
  const counts = tally.counts();
  const interrupted = stop.registryLost ? undefined : stoppedBy(options.interrupt);
  if (closed.unrecorded && !stop.registryLost) throw closed.error;
  if (runId !== null) {
    const finishing = () =>
      finishRun(
        registry.knex,
        runId,
        {
          succeeded: counts.executed,
          failed: counts.failed + counts.unreachable,
          skipped: counts.skipped + counts.busy + counts.moved,
        },
        halted,
        stop.registryLost || interrupted ? stop.reason() : undefined,
      );
    if (stop.registryLost) await retryRegistry(registry, finishing, stop.retryBudget()).catch(() => undefined);
    else await finishing();
  }
  const lost = stop.registryLost;
  return {
    runId,
    dryRun: Boolean(options.dryRun),
    ok: counts.executed === tenants.length && !interrupted && !lost,
    total: tenants.length,
    counts,
    work: {
      kind: work.kind,
      file: work.file,
      sha256: work.sha256,
      ...(work.statements ? { statements: work.statements.length } : {}),
    },
    notes: notesOf(tally.outcomes, work, Boolean(options.dryRun), start.inDoubt),
    tenants: tally.outcomes,
    unreachableServers: runOutages(ctx, fleet, tally.outcomes),
    durationMs: Date.now() - start.started,
    rowsChanged: tally.outcomes.reduce((sum, o) => sum + (o.rowsChanged ?? 0), 0),
    ...(staged ? { waves: waves.map((w) => ({ number: w.number, name: w.name, tenants: w.tenants.length })) } : {}),
    ...(halted && !interrupted && !lost ? { halted } : {}),
    ...(options.resumedFrom !== undefined ? { resumedFrom: options.resumedFrom } : {}),
    ...(start.inDoubt.length ? { inDoubt: start.inDoubt } : {}),
    ...(interrupted ? { interrupted } : {}),
    ...(lost ? { registryLost: { error: stop.lostReason(), unrecorded: closed.unrecorded } } : {}),
  };
}

/** What the result must say about transactions: tenants whose work was not one transaction. */
function notesOf(outcomes: ExecFleetResult['tenants'], work: ExecWork, dryRun: boolean, inDoubt: string[]): string[] {
  const partial = outcomes.filter((o) => o.atomic === false).length;
  const notes: string[] = [];
  if (inDoubt.length)
    notes.push(
      `${inDoubt.length} tenant(s) in doubt, not run again: an earlier run was killed while committing them (${inDoubt.join(', ')}); check them by hand`,
    );
  if (partial)
    notes.push(
      `${partial} tenant(s) on MySQL/MariaDB: the file holds DDL, which MySQL commits on its own; it was not one transaction there${dryRun ? ' and the dry run could not roll it back' : ''}`,
    );
  if (work.kind === 'script' && dryRun)
    notes.push(
      'a script runs in the transaction it is given: DDL it runs on MySQL/MariaDB is committed even in a dry run',
    );
  return notes;
}

/** `--resume <id>`: the stored run's options and file, less the tenants its chain finished. */
async function resumed(
  registry: Registry,
  asked: ExecFleetOptions,
): Promise<{ options: ExecFleetOptions; finished: Set<number>; inDoubt: string[]; stored?: StoredExecOptions }> {
  if (asked.resume === undefined) return { options: asked, finished: new Set(), inDoubt: [] };
  const point = await resumePoint(registry.knex, 'exec', asked.resume);
  const stored = point.options as unknown as StoredExecOptions;
  // Killed between a tenant's mark and its commit: maybe committed, so never run again.
  const inDoubt: string[] = [];
  for (let at: number | undefined = asked.resume; at !== undefined;) {
    for (const t of await tenantsWithOutcome(registry.knex, at, ['committing'])) {
      if (!point.finished.has(t.tenant_id)) inDoubt.push(t.slug);
      point.finished.add(t.tenant_id);
    }
    const row = await findRunRow(registry.knex, at);
    const next = row ? (JSON.parse(row.options) as StoredExecOptions).resumedFrom : undefined;
    at = next === asked.resume ? undefined : next;
  }
  return {
    finished: point.finished,
    inDoubt,
    stored,
    options: {
      ...stored,
      concurrency: stored.concurrency ?? asked.concurrency,
      dryRun: asked.dryRun,
      waitMs: asked.waitMs,
      interrupt: asked.interrupt,
      resume: undefined,
      resumedFrom: asked.resume,
    },
  };
}

function storedOptions(options: ExecFleetOptions, work: ExecWork): StoredExecOptions {
  const { concurrency, slugs, statuses, plans, servers, canary, waves, pauseMs, maxFailures } = options;
  const { lockTimeoutMs, lockRetries, tenantTimeoutMs, resumedFrom } = options;
  return {
    concurrency,
    slugs,
    statuses,
    plans,
    servers,
    canary,
    waves,
    pauseMs,
    maxFailures,
    lockTimeoutMs,
    lockRetries,
    tenantTimeoutMs,
    resumedFrom,
    work: { kind: work.kind, file: work.file, sha256: work.sha256 },
  };
}
