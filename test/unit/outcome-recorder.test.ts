import { describe, expect, it, vi } from 'vitest';
import { OutcomeRecorder } from '../../src/lifecycle/migrations/outcome-recorder.js';
import { untilCut } from '../../src/core/run-interrupt.js';

describe('OutcomeRecorder', () => {
  it('writes a batch once it is full, and whatever is left once the delay has passed, never two writes at once', async () => {
    vi.useFakeTimers();
    try {
      const writes: number[][] = [];
      let writing = 0;
      let overlapped = false;
      const recorder = new OutcomeRecorder<number>(
        async (rows) => {
          overlapped ||= writing > 0;
          writing++;
          await Promise.resolve();
          writes.push(rows);
          writing--;
        },
        1000,
        3,
      );
      for (const n of [1, 2, 3]) recorder.add(n);
      await vi.advanceTimersByTimeAsync(0);
      expect(writes).toEqual([[1, 2, 3]]); // a full batch goes at once
      recorder.add(4);
      await vi.advanceTimersByTimeAsync(999);
      expect(writes).toEqual([[1, 2, 3]]);
      await vi.advanceTimersByTimeAsync(1);
      expect(writes).toEqual([[1, 2, 3], [4]]); // the rest within the delay
      expect(await recorder.close()).toEqual({ unrecorded: 0 });
      expect(overlapped).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps the rows of a failed write for the next one, and says what is left unwritten', async () => {
    let fail = true;
    const written: number[] = [];
    const recorder = new OutcomeRecorder<number>(async (rows) => {
      if (fail) throw new Error('registry away');
      written.push(...rows);
    }, 1000);
    recorder.add(1);
    await recorder.flush();
    recorder.add(2);
    const failed = await recorder.close();
    expect(failed.unrecorded).toBe(2);
    expect((failed.error as Error).message).toBe('registry away');
    fail = false;
    expect(await recorder.close()).toEqual({ unrecorded: 0 });
    expect(written).toEqual([1, 2]);
  });
});

describe('untilCut', () => {
  it('settles with the work, or at once with the cut value when the signal is aborted first', async () => {
    const never = new Promise<string>(() => {});
    const cut = new AbortController();
    const racing = untilCut(never, cut.signal, () => 'cut');
    cut.abort('SIGINT');
    expect(await racing).toBe('cut');
    expect(await untilCut(Promise.resolve('done'), new AbortController().signal, () => 'cut')).toBe('done');
    expect(await untilCut(never, cut.signal, () => 'already cut')).toBe('already cut');
  });
});
