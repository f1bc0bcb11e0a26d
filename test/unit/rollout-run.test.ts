import { describe, expect, it } from 'vitest';
import type { Wave } from '../../src/lifecycle/migrations/rollout-plan.js';
import { runRollout, type AttemptResult, type RolloutControl } from '../../src/lifecycle/migrations/rollout-run.js';

type Item = { id: number; wave: number };

/** A fleet of `sizes[i]` tenants per wave; `fails(id, attempt)` decides each attempt. */
function fleet(
  sizes: number[],
  fails: (id: number, attempt: number) => AttemptResult | undefined,
  overrides: Partial<RolloutControl<Item, AttemptResult>> = {},
) {
  let id = 0;
  const waves: Array<Wave<Item>> = sizes.map((n, i) => ({
    number: i + 1,
    name: `w${i + 1}`,
    canary: false,
    tenants: Array.from({ length: n }, () => ({ id: id++, wave: i + 1 })),
  }));
  const outcomes = new Map<number, string>();
  const attempts = new Map<number, number>();
  let failed = 0;
  let running = 0;
  let peak = 0;
  const control: RolloutControl<Item, AttemptResult> = {
    concurrency: 3,
    staged: true,
    failFast: () => false,
    pauseMs: 0,
    lockRetries: 0,
    retryBackoffMs: 1,
    keyOf: () => 1,
    limitOf: () => 3,
    workOf: (wave) => wave.tenants as Item[],
    attempt: async (item) => {
      running++;
      peak = Math.max(peak, running);
      const n = (attempts.get(item.id) ?? 0) + 1;
      attempts.set(item.id, n);
      await new Promise((resolve) => setTimeout(resolve, 2));
      running--;
      return fails(item.id, n) ?? { outcome: 'migrated' };
    },
    settle: async (item, result) => {
      outcomes.set(item.id, result.outcome);
      if (result.outcome === 'failed') failed++;
    },
    skip: async (item) => void outcomes.set(item.id, 'skipped'),
    failures: () => failed,
    outcomesOf: (wave) => (wave.tenants as Item[]).map((t) => outcomes.get(t.id)),
    ...overrides,
  };
  return { waves, control, outcomes, attempts, peak: () => peak };
}

const count = (outcomes: Map<number, string>, kind: string) => [...outcomes.values()].filter((o) => o === kind).length;

describe('runRollout', () => {
  it('with --max-failures n, never lets more than n + concurrency - 1 fail, and halts', async () => {
    const f = fleet([30], () => ({ outcome: 'failed' }), { maxFailures: 2, staged: false });
    const halted = await runRollout(f.waves, f.control);
    expect(count(f.outcomes, 'failed')).toBeGreaterThanOrEqual(2);
    expect(count(f.outcomes, 'failed')).toBeLessThanOrEqual(2 + 3 - 1);
    expect(count(f.outcomes, 'skipped')).toBe(30 - count(f.outcomes, 'failed'));
    expect(halted).toMatch(/failure budget/);
  });

  it('stops at a failed canary, and after a wave with a failure when there is no budget', async () => {
    const canary = fleet([2, 5], (id) => (id === 1 ? { outcome: 'failed' } : undefined));
    canary.waves[0]!.canary = true;
    expect(await runRollout(canary.waves, canary.control)).toMatch(/canary/);
    expect(count(canary.outcomes, 'skipped')).toBe(5);

    const waves = fleet([1, 2, 4], (id) => (id === 2 ? { outcome: 'failed' } : undefined));
    expect(await runRollout(waves.waves, waves.control)).toMatch(/wave 2/);
    expect(count(waves.outcomes, 'migrated')).toBe(2);
    expect(count(waves.outcomes, 'skipped')).toBe(4);
  });

  it('retries lock timeouts after the rest of the wave; only the last attempt counts', async () => {
    const f = fleet(
      [4],
      (id, attempt) => (id === 0 && attempt < 3 ? { outcome: 'failed', lockTimeout: true } : undefined),
      { lockRetries: 2 },
    );
    expect(await runRollout(f.waves, f.control)).toBeUndefined();
    expect(f.attempts.get(0)).toBe(3);
    expect(count(f.outcomes, 'migrated')).toBe(4);

    const spent = fleet([2], (id) => (id === 0 ? { outcome: 'failed', lockTimeout: true } : undefined), {
      lockRetries: 1,
    });
    await runRollout(spent.waves, spent.control);
    expect(spent.attempts.get(0)).toBe(2);
    expect(spent.outcomes.get(0)).toBe('failed');
  });

  it("uses a wave's own concurrency", async () => {
    const f = fleet([12], () => undefined, { limitOf: () => 99 });
    f.waves[0]!.concurrency = 1;
    await runRollout(f.waves, f.control);
    expect(f.peak()).toBe(1);
  });

  it('pauses between waves, reporting the time left', async () => {
    const left: number[] = [];
    const f = fleet([1, 1], () => undefined, { pauseMs: 300, onPause: (_, ms) => left.push(ms) });
    const started = Date.now();
    await runRollout(f.waves, f.control);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(left[0]).toBe(300);
  });
});
