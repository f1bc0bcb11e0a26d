import { runPool } from '../../core/run-pool.js';
import { sleepUnless } from '../../core/run-interrupt.js';
import type { Wave } from './rollout-plan.js';

/** What one attempt at a tenant gave: enough for the rollout to decide what comes next. */
export interface AttemptResult {
  outcome: string;
  /** The migration gave up waiting for a lock (the session's lock timeout). */
  lockTimeout?: boolean;
}

/** Outcomes that count as a tenant done right; anything else stops a canary. */
const SUCCEEDED = new Set(['migrated', 'rolled_back', 'up_to_date', 'pending', 'executed']);

export interface RolloutControl<W, S extends AttemptResult> {
  /** Tenants worked on at once, unless the wave says otherwise. */
  concurrency: number;
  /** `--max-failures`, resolved to a count: once this many have failed, no new tenant starts. */
  maxFailures?: number;
  /** Whether the run is staged (canary or waves): a failure in a wave then stops the next. */
  staged: boolean;
  /** `--fail-fast`: true once the run should stop after its first failure, as before rollouts. */
  failFast: () => boolean;
  /** Bake time between waves. */
  pauseMs: number;
  /** How often a tenant whose migration hit the lock timeout is tried again, later in its wave. */
  lockRetries: number;
  /** Wait before the first retry; doubles for each further one. */
  retryBackoffMs: number;
  keyOf: (item: W) => string | number;
  limitOf: (key: string | number) => number;
  /** The work left in a wave (tenants already settled without work are not in it). */
  workOf: (wave: Wave<unknown>) => W[];
  /** One attempt at one tenant; never throws. */
  attempt: (item: W) => Promise<S>;
  /** Records a final outcome. */
  settle: (item: W, result: S) => Promise<void>;
  /** Records a tenant never started. */
  skip: (item: W, reason: string) => Promise<void>;
  /** Migrations that failed so far in the run (unreachable and busy tenants were not tried, and do not count). */
  failures: () => number;
  /** Each of a wave's tenants' outcome, once settled. */
  outcomesOf: (wave: Wave<unknown>) => Array<string | undefined>;
  onWave?: (wave: Wave<unknown>) => void;
  /** Called about once a second while pausing between waves. */
  onPause?: (next: Wave<unknown>, remainingMs: number) => void;
  /**
   * Aborted when the run must start no more tenants (a signal, a lost registry): pauses and
   * backoffs end at once, and every tenant not started is skipped with `stopped()` as the reason.
   */
  stopSignal?: AbortSignal;
  /** Why the run was stopped, once `stopSignal` is aborted. */
  stopped?: () => string;
}

/**
 * Runs waves in order. Within a wave, tenants run from one queue (per-server limits apply); a
 * tenant that hit the lock timeout goes back in line after a backoff, up to `lockRetries` times.
 * Once `maxFailures` tenants have failed no new tenant starts. A later wave starts only if the
 * canary passed completely and the run is within its failure budget (with no budget: no failure
 * yet). Returns why the run halted, or undefined if it was not halted.
 */
export async function runRollout<W, S extends AttemptResult>(
  waves: Array<Wave<unknown>>,
  control: RolloutControl<W, S>,
): Promise<string | undefined> {
  let halted: string | undefined;
  const overBudget = () => control.maxFailures !== undefined && control.failures() >= control.maxFailures;
  const budgetReason = () =>
    `failure budget reached: ${control.failures()} failed (--max-failures ${control.maxFailures})`;
  const interrupted = () => Boolean(control.stopSignal?.aborted);
  const stop = () => interrupted() || Boolean(halted) || control.failFast() || overBudget();
  const skipReason = () =>
    interrupted()
      ? `not started: ${control.stopped?.() ?? 'the run was stopped'}`
      : halted
        ? `not started: the run halted (${halted})`
        : overBudget()
          ? `not started: ${budgetReason()}`
          : 'skipped after an earlier failure (--fail-fast)';

  for (const [i, wave] of waves.entries()) {
    const work = control.workOf(wave);
    if (stop()) {
      if (overBudget()) halted ??= budgetReason();
      for (const item of work) await control.skip(item, skipReason());
      continue;
    }
    if (i > 0 && control.pauseMs > 0) await pause(control, wave);
    control.onWave?.(wave);

    let queue = work;
    for (let round = 0; queue.length; round++) {
      const again: Array<{ item: W; result: S }> = [];
      await runPool(
        queue,
        wave.concurrency ?? control.concurrency,
        async (item) => {
          const result = await control.attempt(item);
          if (result.lockTimeout && round < control.lockRetries) again.push({ item, result });
          else await control.settle(item, result);
        },
        {
          shouldStop: stop,
          onSkipped: (item) => {
            const reason = skipReason();
            if (overBudget()) halted ??= budgetReason();
            void control.skip(item, reason);
          },
          keyOf: control.keyOf,
          limitOf: control.limitOf,
        },
      );
      if (!again.length) break;
      // Retries wait their turn after the rest of the wave, then back off: the lock's holder
      // (a long transaction) gets time to finish.
      if (stop()) {
        for (const { item, result } of again) await control.settle(item, result);
        break;
      }
      await sleepUnless(control.retryBackoffMs * 2 ** round, control.stopSignal);
      if (stop()) {
        for (const { item, result } of again) await control.settle(item, result);
        break;
      }
      queue = again.map(({ item }) => item);
    }

    if (overBudget() && waves.slice(i + 1).some((w) => control.workOf(w).length)) halted ??= budgetReason();
    if (halted || interrupted() || i === waves.length - 1) continue;
    const outcomes = control.outcomesOf(wave);
    if (wave.canary && outcomes.some((o) => !o || !SUCCEEDED.has(o))) {
      const bad = outcomes.filter((o) => !o || !SUCCEEDED.has(o)).length;
      halted = `canary did not pass: ${bad} of ${outcomes.length} canary tenants did not succeed`;
    } else if (control.staged && control.maxFailures === undefined && control.failures() > 0) {
      halted = `wave ${wave.number} (${wave.name}) ended with ${control.failures()} failed; later waves not started`;
    }
  }
  return halted;
}

async function pause<W, S extends AttemptResult>(control: RolloutControl<W, S>, next: Wave<unknown>): Promise<void> {
  const until = Date.now() + control.pauseMs;
  for (let left = control.pauseMs; left > 0 && !control.stopSignal?.aborted; left = until - Date.now()) {
    control.onPause?.(next, left);
    await sleepUnless(Math.min(1000, left), control.stopSignal);
  }
}
