import type { Knex } from 'knex';
import type { Context, ServerHandle } from '../../context/context.js';
import { formatDuration } from '../../core/duration.js';
import { TamperedTableError, errorMessage } from '../../core/errors.js';
import type { AppliedMigrations, HeldLock } from '../../engines/engine-driver.js';
import { stoppedBy, type RunInterrupt } from '../../core/run-interrupt.js';
import {
  finishRun,
  markInterruptedRuns,
  recordOutcomes,
  startRun,
  type OutcomeRow,
  type RunKind,
} from '../../registry/runs-repo.js';
import { now, type TenantWithServer } from '../../registry/tenants-repo.js';
import { DirectoryMigrationSource } from '../../tenant-schema/migration-source.js';
import { projectKnex, type KnexUsed } from '../../tenant-schema/project-knex.js';
import {
  migrationFingerprint,
  planMigrations,
  runMigrator,
  TENANT_MIGRATIONS_TABLE,
} from '../../tenant-schema/run-migrations.js';
import { MIGRATIONS_LOCK, withFleetLock } from './fleet-lock.js';
import { selectTenants, type TenantSelection } from '../shared/select-tenants.js';
import { ifTenantFree, openTenantLockPool } from '../shared/tenant-lock-pool.js';
import { withTenantKnex } from '../shared/tenant-database.js';
import {
  isOutage,
  outageMessage,
  reachFleet,
  runOutages,
  serverLimit,
  type UnreachableServer,
} from '../shared/fleet-servers.js';
import { resumePoint, type RolloutOptions } from './resume-run.js';
import { parseFailureBudget, planWaves, type Wave } from './rollout-plan.js';
import { runRollout } from './rollout-run.js';
import { withCutoff } from '../shared/tenant-deadline.js';
import { freshTenant } from '../shared/fresh-tenant.js';
import { OutcomeRecorder } from './outcome-recorder.js';
import { isRegistryOutage, REGISTRY_RETRY_MS, retryRegistry } from './registry-retry.js';
import { assertTenantCodeTrusted, tenantLogin } from '../shared/tenant-login.js';

export interface MigrateFleetOptions extends TenantSelection, RolloutOptions {
  /** `up`: to the latest migration; `down`: roll back the last batch. */
  direction: 'up' | 'down';
  /** Tenants worked on at once. */
  concurrency: number;
  /** Report what would run; change nothing, take no lock, record no run. */
  dryRun?: boolean;
  /** Stop starting tenants after the first failure; the rest are `skipped`. */
  failFast?: boolean;
  /** How long to wait for a running migration to finish before giving up. Default 0. */
  waitMs?: number;
  /** Stops the run early (see RunInterrupt): the CLI's Ctrl-C and SIGTERM. */
  interrupt?: RunInterrupt;
}

/**
 * `busy`: another operation (a restore, a delete…) held the tenant's lock; `--retry-failed` picks it up.
 * `unreachable`: its server could not be reached.
 * `moved`: moved, while the run went on, off the servers the run was asked for (`--server`): not worked on.
 */
export type TenantOutcomeKind =
  'migrated' | 'rolled_back' | 'up_to_date' | 'pending' | 'failed' | 'unreachable' | 'skipped' | 'busy' | 'moved';

export interface TenantMigrationOutcome {
  slug: string;
  server: string;
  outcome: TenantOutcomeKind;
  /** Migrations applied (up), rolled back (down), or that would be applied (dry run). */
  migrations: string[];
  error?: string;
  durationMs: number;
  /** The wave it ran in (1-based); only in a staged run (canary or waves). */
  wave?: number;
  /** The migration gave up waiting for a lock (`--lock-timeout`); `error` starts with "lock timeout". */
  lockTimeout?: boolean;
  /** Stopped after `--tenant-timeout`. */
  timedOut?: boolean;
  /** Cut while it ran: by a second signal, or because the registry (and the run's lock) was lost. */
  cut?: boolean;
  /** The server it was listed on, if it was moved while the run went on (`server`: where it was worked on). */
  movedFrom?: string;
}

export interface FleetProgress {
  done: number;
  total: number;
  failed: number;
  elapsedMs: number;
  /** In a staged run: the wave under way (or next, while pausing). */
  wave?: { number: number; name: string; of: number };
  /** Time left of the pause before `wave`. */
  pauseLeftMs?: number;
}

/** A wave of a staged run, as the result reports it. */
export interface WaveSummary {
  number: number;
  name: string;
  tenants: number;
}

export interface MigrateFleetResult {
  /** The registry's id for this run; null for a dry run. */
  runId: number | null;
  kind: RunKind;
  dryRun: boolean;
  ok: boolean;
  total: number;
  counts: Record<TenantOutcomeKind, number>;
  /** The migrations in the migrations directory, in order. */
  available: string[];
  /** The knex that ran them: the project's own where its migrations directory resolves one. */
  knex: KnexUsed;
  tenants: TenantMigrationOutcome[];
  /** Servers that could not be reached: their tenants are `unreachable`, and the run is incomplete. */
  unreachableServers: UnreachableServer[];
  durationMs: number;
  /** Staged runs only: the waves in order. */
  waves?: WaveSummary[];
  /** Why the run halted (failure budget, failed canary, failed wave); the run is recorded `halted`. */
  halted?: string;
  /** `--resume`: the run this one continued. */
  resumedFrom?: number;
  /**
   * Stopped by the caller (the signal, e.g. `SIGINT`): tenants not started are `skipped`; the run is
   * recorded `interrupted`.
   */
  interrupted?: string;
  /**
   * The registry connection was lost mid-run, and the run's lock with it: the run stopped at once
   * (tenants under way cut, the rest `skipped`), recorded what it could, and is `interrupted`.
   */
  registryLost?: { error: string; unrecorded: number };
}

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
  onProgress: (progress: FleetProgress) => void = () => {},
): Promise<MigrateFleetResult> {
  const started = Date.now();
  const kind: RunKind = options.direction === 'up' ? 'migrate' : 'rollback';
  const source = new DirectoryMigrationSource(ctx.config.migrationsDir);
  const available = source.list();

  const body = async (lock?: HeldLock): Promise<MigrateFleetResult> => {
    const registry = await ctx.registry();
    // A lost registry session is a lost lock: another run may start at once, so this one starts
    // no more tenants and cuts those under way (their transactions roll back), as a second signal would.
    const lost = lock?.lost;
    const stopSignal = anySignal(options.interrupt?.stop, options.interrupt?.cut, lost);
    const cutSignal = anySignal(options.interrupt?.cut, lost);
    // Once the registry is lost, its writes are tried again until 30 s after the loss (all of them together).
    let lostAt = lost?.aborted ? Date.now() : undefined;
    lost?.addEventListener('abort', () => (lostAt = Date.now()), { once: true });
    const retryBudget = () => (lostAt === undefined ? 0 : Math.max(0, lostAt + REGISTRY_RETRY_MS - Date.now()));
    const stopReason = () =>
      lost?.aborted
        ? `the registry connection was lost (${errorMessage(lost.reason)})`
        : `stopped by ${stoppedBy(options.interrupt)}`;
    let finished = new Set<number>();
    if (options.resume !== undefined) {
      if (!options.dryRun) await markInterruptedRuns(registry.knex, kind);
      const point = await resumePoint(registry.knex, kind, options.resume);
      finished = point.finished;
      options = {
        ...point.options,
        direction: options.direction,
        concurrency: point.options.concurrency ?? options.concurrency,
        dryRun: options.dryRun,
        waitMs: options.waitMs,
        interrupt: options.interrupt,
        retryFailed: false,
        resume: undefined,
        resumedFrom: options.resume,
      };
    }
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

    const outcomes: TenantMigrationOutcome[] = new Array(tenants.length);
    const fleet = await reachFleet(ctx, tenants);
    const position = new Map(tenants.map((t, i) => [t.id, i]));
    // Outcomes reach the registry as tenants finish (batched, at most a second behind), retried
    // while the registry is away.
    const recorder = new OutcomeRecorder<OutcomeRow>((rows) =>
      retryRegistry(registry, () => recordOutcomes(registry.knex, rows), retryBudget()),
    );
    let done = 0;
    let failed = 0;
    let migrationFailures = 0;
    const widest = Math.max(options.concurrency, ...waves.map((w) => w.concurrency ?? 0));
    // Every tenant worked on is locked, so no restore or delete runs under its migration.
    const locks = options.dryRun ? undefined : await openTenantLockPool(ctx);
    const settle = async (index: number, tenant: TenantWithServer, outcome: Settled) => {
      outcomes[index] = {
        slug: tenant.slug,
        server: outcome.worked?.server_name ?? tenant.server_name,
        ...withoutWorked(outcome),
        ...(staged ? { wave: waveOf.get(tenant.id) } : {}),
      };
      done++;
      if (outcome.outcome === 'failed' || outcome.outcome === 'unreachable') failed++;
      if (outcome.outcome === 'failed') migrationFailures++;
      if (runId !== null) {
        recorder.add({
          run_id: runId,
          tenant_id: tenant.id,
          slug: tenant.slug,
          outcome: outcome.outcome as OutcomeRow['outcome'],
          detail: outcome.migrations.length ? JSON.stringify(outcome.migrations) : null,
          error: outcome.error ?? null,
          duration_ms: outcome.durationMs,
          finished_at: now(),
          wave: waveOf.get(tenant.id) ?? null,
        });
      }
      onProgress({ done, total: tenants.length, failed, elapsedMs: Date.now() - started, wave: activeWave });
    };
    let activeWave: FleetProgress['wave'];
    let halted: string | undefined;
    let closed: Awaited<ReturnType<typeof recorder.close>> = { unrecorded: 0 };

    try {
      // Tenants with nothing to do are found without opening them where the server allows:
      // MySQL reads every migration table in one query per batch; PostgreSQL keeps a
      // fingerprint of each tenant's migrations readable in one query. The rest are checked by
      // their worker, on the connection it would migrate with.
      for (const { tenant, error } of fleet.unreachable) {
        await settle(position.get(tenant.id)!, tenant, {
          outcome: 'unreachable',
          migrations: [],
          durationMs: 0,
          error: error.message,
        });
      }
      const reachable = fleet.reachable;
      const known =
        options.direction === 'up' ? await readAppliedInBulk(ctx, reachable, options.concurrency, true) : new Map();
      const fingerprints = options.direction === 'up' ? await readFingerprints(ctx, reachable) : new Map();
      const current = migrationFingerprint(available);
      const work: Array<{
        tenant: TenantWithServer;
        index: number;
        applied: string[] | null | undefined;
        fingerprinted: boolean;
      }> = [];
      for (const tenant of reachable) {
        const index = position.get(tenant.id)!;
        const applied = known.get(tenant.server_id)?.get(tenant.database_name);
        const fingerprint = fingerprints.get(tenant.server_id)?.get(tenant.database_name);
        const settled =
          fingerprint === current
            ? { outcome: 'up_to_date' as const, migrations: [], durationMs: 0 }
            : applied === undefined
              ? undefined
              : judge(available, applied, options, ctx.config.migrationsDir);
        if (settled) await settle(index, tenant, settled);
        else work.push({ tenant, index, applied, fingerprinted: typeof fingerprint === 'string' });
      }

      const workOf = new Map<number, typeof work>();
      for (const item of work)
        workOf.set(waveOf.get(item.tenant.id)!, [...(workOf.get(waveOf.get(item.tenant.id)!) ?? []), item]);
      const describe = (wave: Wave<unknown>) =>
        staged ? { number: wave.number, name: wave.name, of: waves.length } : undefined;
      halted = await runRollout<(typeof work)[number], Settled>(waves, {
        concurrency: options.concurrency,
        maxFailures,
        staged,
        failFast: () => Boolean(options.failFast) && failed > 0,
        pauseMs: options.pauseMs ?? 0,
        lockRetries: options.lockRetries ?? 0,
        retryBackoffMs: LOCK_RETRY_BACKOFF_MS,
        keyOf: ({ tenant }) => tenant.server_id,
        limitOf: serverLimit(ctx, tenants, widest),
        workOf: (wave) => workOf.get(wave.number) ?? [],
        stopSignal,
        stopped: stopReason,
        attempt: ({ tenant, applied, fingerprinted }) =>
          ifTenantFree<Settled>(
            locks,
            tenant.slug,
            async (): Promise<Settled> => {
              // Under the tenant's lock: where it lives now, not where the list said.
              const fresh = options.dryRun ? { now: tenant } : await freshTenant(ctx, tenant, options);
              if ('outcome' in fresh)
                return { outcome: fresh.outcome, migrations: [], durationMs: 0, error: fresh.reason };
              const known = fresh.movedFrom ? { applied: undefined, fingerprinted: false } : { applied, fingerprinted };
              const settled = await migrateOne(ctx, fresh.now, source, available, known, options, {
                signal: cutSignal,
                cut: () => ({
                  outcome: 'failed',
                  migrations: [],
                  cut: true,
                  error: `cut: ${stopReason()}; its migration was stopped`,
                  durationMs: 0,
                }),
              });
              return { ...settled, worked: fresh.now, ...(fresh.movedFrom ? { movedFrom: fresh.movedFrom } : {}) };
            },
            (holder) => ({ outcome: 'busy', migrations: [], durationMs: 0, error: holder }),
          ).catch((error: unknown): Settled => {
            // The registry went away under the tenant's lock or re-read: the lost lock stops the run next.
            if (!isRegistryOutage(registry, error)) throw error;
            return { outcome: 'failed', migrations: [], durationMs: 0, error: `registry: ${errorMessage(error)}` };
          }),
        settle: ({ tenant, index }, result) => settle(index, tenant, result),
        skip: ({ tenant, index }, reason) =>
          settle(index, tenant, { outcome: 'skipped', migrations: [], durationMs: 0, error: reason }),
        failures: () => migrationFailures,
        outcomesOf: (wave) => wave.tenants.map((t) => outcomes[position.get((t as TenantWithServer).id)!]?.outcome),
        onWave: (wave) => {
          activeWave = describe(wave);
          onProgress({ done, total: tenants.length, failed, elapsedMs: Date.now() - started, wave: activeWave });
        },
        onPause: (next, left) =>
          onProgress({
            done,
            total: tenants.length,
            failed,
            elapsedMs: Date.now() - started,
            wave: describe(next),
            pauseLeftMs: left,
          }),
      });
    } finally {
      // Whatever happened, what the tenants did is written (tried again for a while once the registry was lost).
      closed = await recorder.close();
      await locks?.close();
    }

    const counts = countOutcomes(outcomes);
    const interrupted = lost?.aborted ? undefined : stoppedBy(options.interrupt);
    const { unrecorded, error: unrecordedError } = closed;
    // A failed write fails the run, unless the registry was lost (then the result says how many).
    if (unrecorded && !lost?.aborted) throw unrecordedError;
    if (runId !== null) {
      const finishing = () =>
        finishRun(
          registry.knex,
          runId!,
          {
            succeeded: counts.migrated + counts.rolled_back + counts.up_to_date,
            failed: counts.failed + counts.unreachable,
            skipped: counts.skipped + counts.busy + counts.moved,
          },
          halted,
          lost?.aborted || interrupted ? stopReason() : undefined,
        );
      if (lost?.aborted) await retryRegistry(registry, finishing, retryBudget()).catch(() => undefined);
      else await finishing();
    }
    return {
      runId,
      kind,
      dryRun: Boolean(options.dryRun),
      ok:
        counts.failed === 0 &&
        counts.skipped === 0 &&
        counts.unreachable === 0 &&
        counts.busy === 0 &&
        !interrupted &&
        !lost?.aborted,
      total: tenants.length,
      counts,
      available,
      knex: projectKnex(ctx.config.migrationsDir).used,
      tenants: outcomes,
      unreachableServers: runOutages(ctx, fleet, outcomes),
      durationMs: Date.now() - started,
      ...(staged ? { waves: waves.map((w) => ({ number: w.number, name: w.name, tenants: w.tenants.length })) } : {}),
      ...(halted && !interrupted && !lost?.aborted ? { halted } : {}),
      ...(options.resumedFrom !== undefined ? { resumedFrom: options.resumedFrom } : {}),
      ...(interrupted ? { interrupted } : {}),
      ...(lost?.aborted ? { registryLost: { error: errorMessage(lost.reason), unrecorded } } : {}),
    };
  };

  // A dry run changes nothing, so it needs no lock and never waits behind a real run.
  if (options.dryRun) return body();
  return withFleetLock(ctx, MIGRATIONS_LOCK, options.waitMs ?? 0, 'migration run', body);
}

/** One tenant's outcome as its worker returns it; `worked`: the row it acted on (fresh, under the lock). */
type Settled = Omit<TenantMigrationOutcome, 'slug' | 'server'> & { worked?: TenantWithServer };

function withoutWorked({ worked: _, ...outcome }: Settled): Omit<TenantMigrationOutcome, 'slug' | 'server'> {
  return outcome;
}

/** A signal aborted when any of `signals` is (undefined ones ignored). */
function anySignal(...signals: Array<AbortSignal | undefined>): AbortSignal | undefined {
  const given = signals.filter((s): s is AbortSignal => s !== undefined);
  return given.length ? AbortSignal.any(given) : undefined;
}

/** First wait before a tenant that hit the lock timeout is tried again; doubles each time. */
const LOCK_RETRY_BACKOFF_MS = 1000;

/**
 * What a tenant's applied migrations already decide, without touching its database: up to date,
 * a corrupt history, or (dry run) what would run. Undefined when there is work to do.
 */
function judge(
  available: string[],
  applied: string[] | null | TamperedTableError,
  options: MigrateFleetOptions,
  directory: string,
): Settled | undefined {
  if (applied instanceof TamperedTableError)
    return { outcome: 'failed', migrations: [], durationMs: 0, error: `${applied.message}: not migrated` };
  const plan = planMigrations(available, applied);
  if (plan.unknown.length) {
    return {
      outcome: 'failed',
      migrations: [],
      durationMs: 0,
      error: `applied migrations missing from ${directory}: ${plan.unknown.join(', ')}`,
    };
  }
  if (plan.pending.length === 0) return { outcome: 'up_to_date', migrations: [], durationMs: 0 };
  if (options.dryRun) return { outcome: 'pending', migrations: plan.pending, durationMs: 0 };
  return undefined;
}

/**
 * Each server's tenants' applied migrations, each read as the tenant or without running anything
 * of the tenant's (see DatabaseInspection.readAppliedMigrations). With `crossDatabaseOnly`, only
 * servers whose engine reads them all over one connection are asked (the others are checked per
 * tenant, on the connection that migrates it). `available` lets an engine that keeps fingerprints
 * answer from them.
 */
export async function readAppliedInBulk(
  ctx: Context,
  tenants: TenantWithServer[],
  concurrency: number,
  crossDatabaseOnly = false,
  available?: string[],
): Promise<Map<number, AppliedMigrations>> {
  const byServer = new Map<number, TenantWithServer[]>();
  for (const t of tenants) byServer.set(t.server_id, [...(byServer.get(t.server_id) ?? []), t]);
  const result = new Map<number, AppliedMigrations>();
  for (const [serverId, onServer] of byServer) {
    const server = await ctx.server(serverId);
    if (crossDatabaseOnly && !server.connection.driver.crossDatabaseReads) continue;
    const logins = onServer.map((t) => tenantLogin(ctx, server, t));
    result.set(
      serverId,
      await server.connection.readAppliedMigrations(logins, TENANT_MIGRATIONS_TABLE, concurrency, available),
    );
  }
  return result;
}

/** Each server's migration fingerprints, where the engine keeps them. */
async function readFingerprints(
  ctx: Context,
  tenants: TenantWithServer[],
): Promise<Map<number, Map<string, string | null>>> {
  const result = new Map<number, Map<string, string | null>>();
  for (const serverId of new Set(tenants.map((t) => t.server_id))) {
    const server = await ctx.server(serverId);
    const databases = tenants.filter((t) => t.server_id === serverId).map((t) => t.database_name);
    const fingerprints = await server.connection.migrationFingerprints?.readMigrationFingerprints(databases);
    if (fingerprints) result.set(serverId, fingerprints);
  }
  return result;
}

/** One tenant on one connection: check what is applied (unless known), then migrate or roll back. */
async function migrateOne(
  ctx: Context,
  tenant: TenantWithServer,
  source: DirectoryMigrationSource,
  available: string[],
  known: { applied: string[] | null | undefined; fingerprinted: boolean },
  options: MigrateFleetOptions,
  cutOff?: { signal: AbortSignal | undefined; cut: () => Settled },
): Promise<Settled> {
  const started = Date.now();
  let server: ServerHandle | undefined;
  try {
    server = await ctx.server(tenant.server_id);
    const driver = server.connection.driver;
    const timedOut = (): Settled => ({
      outcome: 'failed',
      migrations: [],
      timedOut: true,
      error: `timed out after ${formatDuration(options.tenantTimeoutMs!)} (--tenant-timeout): stopped`,
      durationMs: Date.now() - started,
    });
    const cutoff = {
      ms: options.tenantTimeoutMs,
      lost: server.connection.lost,
      timedOut,
      serverLost: (reason: unknown): Settled => ({
        outcome: 'unreachable',
        migrations: [],
        error: outageMessage(tenant, ctx.lostServers().get(tenant.server_id) ?? reason),
        durationMs: Date.now() - started,
      }),
      cut: cutOff && {
        signal: cutOff.signal,
        settle: (): Settled => ({ ...cutOff.cut(), durationMs: Date.now() - started }),
      },
    };
    return await withCutoff(cutoff, (opened) =>
      withTenantKnex(
        server!.connection,
        tenantLogin(ctx, server!, tenant),
        async (knex: Knex): Promise<Settled> => {
          opened(knex);
          if (options.direction === 'down') {
            // Read (and checked to be a plain table) first: a tampered one is reported, not rolled back.
            const applied = await driver.readAppliedOn(knex, TENANT_MIGRATIONS_TABLE, tenant.database_name);
            if (options.dryRun) return plannedRollback(knex, applied);
            const names = await runMigrator(knex, source, 'down');
            return {
              outcome: names.length ? 'rolled_back' : 'up_to_date',
              migrations: names,
              durationMs: Date.now() - started,
            };
          }
          const applied =
            known.applied === undefined
              ? await driver.readAppliedOn(knex, TENANT_MIGRATIONS_TABLE, tenant.database_name)
              : known.applied;
          const settled = judge(available, applied, options, ctx.config.migrationsDir);
          // A tenant without a fingerprint (created before it existed, or restored) gets the trigger
          // that keeps one, so next time it is cheap; where it exists, the trigger updates it itself.
          const keep = !options.dryRun && !known.fingerprinted;
          if (settled) {
            if (keep && applied !== null)
              await server!.connection.migrationFingerprints?.keepMigrationFingerprint(knex, TENANT_MIGRATIONS_TABLE);
            return { ...settled, durationMs: Date.now() - started };
          }
          const names = await runMigrator(knex, source, 'up');
          if (keep)
            await server!.connection.migrationFingerprints?.keepMigrationFingerprint(knex, TENANT_MIGRATIONS_TABLE);
          return {
            outcome: names.length ? 'migrated' : 'up_to_date',
            migrations: names,
            durationMs: Date.now() - started,
          };
        },
        projectKnex(ctx.config.migrationsDir).factory,
        { lockTimeoutMs: options.lockTimeoutMs },
      ),
    );
  } catch (error) {
    const driver = server?.connection.driver;
    if (error instanceof TamperedTableError)
      return {
        outcome: 'failed',
        migrations: [],
        error: `${error.message}: not migrated`,
        durationMs: Date.now() - started,
      };
    // Before the outage check: a lock timeout's message says "timeout" too.
    if (driver?.isLockTimeoutError(error)) {
      const waited = options.lockTimeoutMs === undefined ? '' : ` after ${formatDuration(options.lockTimeoutMs)}`;
      return {
        outcome: 'failed',
        migrations: [],
        lockTimeout: true,
        error: `lock timeout${waited}: ${errorMessage(error)}`,
        durationMs: Date.now() - started,
      };
    }
    // A failure its server may have caused (a cut connection): the server is asked at once.
    const lost = await ctx.unansweredServer(tenant.server_id);
    if (lost || isOutage(error))
      return {
        outcome: 'unreachable',
        migrations: [],
        error: outageMessage(tenant, lost ?? error),
        durationMs: Date.now() - started,
      };
    const hint =
      driver && !driver.transactionalDdl
        ? ` [${driver.engine} cannot roll back DDL: the failed migration may be partly applied]`
        : '';
    return {
      outcome: 'failed',
      migrations: [],
      error: `${errorMessage(error)}${hint}`,
      durationMs: Date.now() - started,
    };
  }
}

/** Dry run of a rollback: the last batch, read from the tenant's migration table (a plain table: checked). */
async function plannedRollback(knex: Knex, applied: string[] | null): Promise<Settled> {
  if (!applied?.length) return { outcome: 'up_to_date', migrations: [], durationMs: 0 };
  const last = await knex(TENANT_MIGRATIONS_TABLE).max({ batch: 'batch' }).first();
  const names = await knex(TENANT_MIGRATIONS_TABLE).where({ batch: last!.batch }).orderBy('id', 'desc').pluck('name');
  return { outcome: 'pending', migrations: names, durationMs: 0 };
}

function countOutcomes(outcomes: TenantMigrationOutcome[]): Record<TenantOutcomeKind, number> {
  const counts: Record<TenantOutcomeKind, number> = {
    migrated: 0,
    rolled_back: 0,
    up_to_date: 0,
    pending: 0,
    failed: 0,
    unreachable: 0,
    skipped: 0,
    busy: 0,
    moved: 0,
  };
  for (const o of outcomes) counts[o.outcome]++;
  return counts;
}

function runOptions(ctx: Context, options: MigrateFleetOptions): object {
  const { direction, concurrency, failFast, slugs, statuses, plans, servers, retryFailed } = options;
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
    ...rollout,
  };
}
