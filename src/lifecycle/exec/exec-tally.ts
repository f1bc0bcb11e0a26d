import type { FleetProgress } from '../../core/fleet-run.js';
import type { Registry } from '../../registry/registry.js';
import { recordOutcomes, updateOutcome, type OutcomeRow } from '../../registry/runs-repo.js';
import { now, type TenantWithServer } from '../../registry/tenants-repo.js';
import { OutcomeRecorder } from '../migrations/outcome-recorder.js';
import { retryRegistry } from '../migrations/registry-retry.js';
import type { Wave } from '../migrations/rollout-plan.js';
import type { ExecOutcomeKind, ExecSettled, ExecTenantOutcome } from './exec-types.js';

const KINDS: ExecOutcomeKind[] = ['executed', 'failed', 'unreachable', 'skipped', 'busy', 'moved'];

/**
 * An exec run's outcomes as tenants settle: in place in the result, counted, stored in the
 * registry as they come (batched, at most a second behind: see OutcomeRecorder), so that a run
 * killed now is resumed without running a finished tenant again.
 */
export class ExecTally {
  readonly outcomes: ExecTenantOutcome[];
  private readonly position: Map<number, number>;
  private readonly recorder: OutcomeRecorder<OutcomeRow> | undefined;
  private done = 0;
  private failedCount = 0;
  /** Tenants whose work failed (unreachable and busy were not tried): the failure budget's count. */
  private workFailures = 0;
  private activeWave: FleetProgress['wave'];

  constructor(
    tenants: TenantWithServer[],
    private readonly waveOf: Map<number, number>,
    private readonly staged: boolean,
    private readonly waveCount: number,
    private readonly runId: number | null,
    private readonly started: number,
    private readonly registry: Registry,
    private readonly retryBudget: () => number,
    private readonly onProgress: (progress: FleetProgress) => void,
  ) {
    this.outcomes = new Array(tenants.length);
    this.position = new Map(tenants.map((t, i) => [t.id, i]));
    this.recorder =
      runId === null
        ? undefined
        : new OutcomeRecorder<OutcomeRow>((rows) =>
            retryRegistry(registry, () => recordOutcomes(registry.knex, rows), retryBudget()),
          );
  }

  get failed(): number {
    return this.failedCount;
  }

  get failures(): number {
    return this.workFailures;
  }

  async settle(tenant: TenantWithServer, settled: ExecSettled): Promise<void> {
    const { worked, recordId, ...rest } = settled;
    const wave = this.waveOf.get(tenant.id);
    this.outcomes[this.position.get(tenant.id)!] = {
      slug: tenant.slug,
      server: worked?.server_name ?? tenant.server_name,
      ...rest,
      ...(this.staged ? { wave } : {}),
    };
    this.done++;
    if (settled.outcome === 'failed' || settled.outcome === 'unreachable') this.failedCount++;
    if (settled.outcome === 'failed') this.workFailures++;
    const row = {
      outcome: settled.outcome,
      detail:
        settled.rowsChanged === undefined && settled.atomic === undefined
          ? null
          : JSON.stringify({ rowsChanged: settled.rowsChanged, atomic: settled.atomic }),
      error: settled.error ?? null,
      duration_ms: settled.durationMs,
      finished_at: now(),
    };
    // A tenant marked `committing` has its row already: the commit's outcome replaces the mark, at once.
    if (recordId !== undefined)
      await retryRegistry(this.registry, () => updateOutcome(this.registry.knex, recordId, row), this.retryBudget());
    else
      this.recorder?.add({ run_id: this.runId!, tenant_id: tenant.id, slug: tenant.slug, ...row, wave: wave ?? null });
    this.report();
  }

  outcomeOf(tenant: TenantWithServer): ExecOutcomeKind | undefined {
    return this.outcomes[this.position.get(tenant.id)!]?.outcome;
  }

  startWave(wave: Wave<unknown>): void {
    this.activeWave = this.describe(wave);
    this.report();
  }

  pausing(next: Wave<unknown>, leftMs: number): void {
    this.onProgress({ ...this.progress(), wave: this.describe(next), pauseLeftMs: leftMs });
  }

  counts(): Record<ExecOutcomeKind, number> {
    const counts = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<ExecOutcomeKind, number>;
    for (const o of this.outcomes) counts[o.outcome]++;
    return counts;
  }

  close(): Promise<{ unrecorded: number; error?: unknown }> {
    return this.recorder?.close() ?? Promise.resolve({ unrecorded: 0 });
  }

  private describe(wave: Wave<unknown>): FleetProgress['wave'] {
    return this.staged ? { number: wave.number, name: wave.name, of: this.waveCount } : undefined;
  }

  private progress(): FleetProgress {
    return {
      done: this.done,
      total: this.outcomes.length,
      failed: this.failedCount,
      elapsedMs: Date.now() - this.started,
    };
  }

  private report(): void {
    this.onProgress({ ...this.progress(), wave: this.activeWave });
  }
}
