import type { FleetProgress } from '../../core/fleet-run.js';
import type { Registry } from '../../registry/registry.js';
import { recordOutcomes, type OutcomeRow } from '../../registry/runs-repo.js';
import { now, type TenantWithServer } from '../../registry/tenants-repo.js';
import type { FleetPlan } from './fleet-plan.js';
import type { Settled, TenantMigrationOutcome, TenantOutcomeKind } from './fleet-types.js';
import { OutcomeRecorder } from './outcome-recorder.js';
import { retryRegistry } from './registry-retry.js';
import type { Wave } from './rollout-plan.js';

/**
 * A migration run's outcomes as tenants settle: each in its place in the result, counted, sent
 * to the registry (batched, at most a second behind, retried while the registry is away: see
 * OutcomeRecorder), and reported as progress.
 */
export class FleetTally {
  /** Each tenant's outcome, in the plan's order; a hole until it settles. */
  readonly outcomes: TenantMigrationOutcome[];
  private readonly position: Map<number, number>;
  private readonly recorder: OutcomeRecorder<OutcomeRow>;
  private done = 0;
  /** Failed or unreachable: what progress reports and `--fail-fast` stops on. */
  private failedCount = 0;
  /** Migrations that failed (unreachable and busy tenants were not tried): the failure budget's count. */
  private migrationFailures = 0;
  private activeWave: FleetProgress['wave'];

  constructor(
    private readonly plan: FleetPlan,
    /** When the run began (before its lock and its plan): progress counts its time from then. */
    private readonly started: number,
    registry: Registry,
    retryBudget: () => number,
    private readonly onProgress: (progress: FleetProgress) => void,
  ) {
    this.outcomes = new Array(plan.tenants.length);
    this.position = new Map(plan.tenants.map((t, i) => [t.id, i]));
    this.recorder = new OutcomeRecorder<OutcomeRow>((rows) =>
      retryRegistry(registry, () => recordOutcomes(registry.knex, rows), retryBudget()),
    );
  }

  get failed(): number {
    return this.failedCount;
  }

  get failures(): number {
    return this.migrationFailures;
  }

  /** Records a tenant's final outcome. */
  async settle(tenant: TenantWithServer, outcome: Settled): Promise<void> {
    const { worked, ...rest } = outcome;
    const wave = this.plan.waveOf.get(tenant.id);
    this.outcomes[this.position.get(tenant.id)!] = {
      slug: tenant.slug,
      server: worked?.server_name ?? tenant.server_name,
      ...rest,
      ...(this.plan.staged ? { wave } : {}),
    };
    this.done++;
    if (outcome.outcome === 'failed' || outcome.outcome === 'unreachable') this.failedCount++;
    if (outcome.outcome === 'failed') this.migrationFailures++;
    if (this.plan.runId !== null) {
      this.recorder.add({
        run_id: this.plan.runId,
        tenant_id: tenant.id,
        slug: tenant.slug,
        outcome: outcome.outcome as OutcomeRow['outcome'],
        detail: outcome.migrations.length ? JSON.stringify(outcome.migrations) : null,
        error: outcome.error ?? null,
        duration_ms: outcome.durationMs,
        finished_at: now(),
        wave: wave ?? null,
      });
    }
    this.report();
  }

  /** A tenant's outcome kind, once it settled. */
  outcomeOf(tenant: TenantWithServer): TenantOutcomeKind | undefined {
    return this.outcomes[this.position.get(tenant.id)!]?.outcome;
  }

  /** A staged run's wave as progress names it; undefined in a run of one batch. */
  describe(wave: Wave<unknown>): FleetProgress['wave'] {
    return this.plan.staged ? { number: wave.number, name: wave.name, of: this.plan.waves.length } : undefined;
  }

  /** A wave starts. */
  startWave(wave: Wave<unknown>): void {
    this.activeWave = this.describe(wave);
    this.report();
  }

  /** About once a second while pausing before `next`. */
  pausing(next: Wave<unknown>, leftMs: number): void {
    this.onProgress({ ...this.progress(), wave: this.describe(next), pauseLeftMs: leftMs });
  }

  /** Every outcome counted by kind. */
  counts(): Record<TenantOutcomeKind, number> {
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
    for (const o of this.outcomes) counts[o.outcome]++;
    return counts;
  }

  /** Writes what is left to the registry; says how many outcomes could not be written, and why. */
  close(): Promise<{ unrecorded: number; error?: unknown }> {
    return this.recorder.close();
  }

  private progress(): FleetProgress {
    return {
      done: this.done,
      total: this.plan.tenants.length,
      failed: this.failedCount,
      elapsedMs: Date.now() - this.started,
    };
  }

  private report(): void {
    this.onProgress({ ...this.progress(), wave: this.activeWave });
  }
}
