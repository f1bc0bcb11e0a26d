import { describe, expect, it } from 'vitest';
import { runPool } from '../../src/core/run-pool.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe('runPool', () => {
  it('runs every item once, never more than `concurrency` at a time', async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    await runPool([1, 2, 3, 4, 5, 6, 7], 3, async (item) => {
      running++;
      peak = Math.max(peak, running);
      await tick();
      seen.push(item);
      running--;
    });
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(peak).toBe(3);
  });

  it('lets a fast lane take the next item while a slow one is still running', async () => {
    const order: string[] = [];
    await runPool(['slow', 'a', 'b', 'c'], 2, async (item) => {
      if (item === 'slow') await new Promise((resolve) => setTimeout(resolve, 40));
      else await tick();
      order.push(item);
    });
    expect(order).toEqual(['a', 'b', 'c', 'slow']);
  });

  it('passes each item its index', async () => {
    const pairs: Array<[string, number]> = [];
    await runPool(['x', 'y', 'z'], 2, async (item, index) => {
      pairs.push([item, index]);
    });
    expect(pairs.sort()).toEqual([
      ['x', 0],
      ['y', 1],
      ['z', 2],
    ]);
  });

  it('hands items not yet started to onSkipped once shouldStop turns true', async () => {
    const ran: number[] = [];
    const skipped: number[] = [];
    await runPool(
      [0, 1, 2, 3, 4],
      1,
      async (item) => {
        ran.push(item);
      },
      { shouldStop: () => ran.length >= 2, onSkipped: (item) => skipped.push(item) },
    );
    expect(ran).toEqual([0, 1]);
    expect(skipped).toEqual([2, 3, 4]);
  });

  it('runs with a concurrency of 0 or less as if it were 1, and does nothing for no items', async () => {
    const ran: number[] = [];
    await runPool([1, 2], 0, async (item) => {
      ran.push(item);
    });
    expect(ran).toEqual([1, 2]);
    let called = false;
    await runPool([], 4, async () => {
      called = true;
    });
    expect(called).toBe(false);
  });

  it("rejects with the worker's error", async () => {
    await expect(
      runPool([1, 2], 2, async (item) => {
        if (item === 2) throw new Error('boom on 2');
      }),
    ).rejects.toThrow('boom on 2');
  });
});
