/**
 * Runs `worker` over `items` with at most `concurrency` at a time. Workers pull from one shared
 * queue, so a slow item never holds back a fixed chunk. When `shouldStop()` turns true, items not
 * yet started are handed to `onSkipped` instead of being run.
 */
export async function runPool<T>(
  items: readonly T[],
  concurrency: number,
  worker: (item: T, index: number) => Promise<void>,
  options: { shouldStop?: () => boolean; onSkipped?: (item: T, index: number) => void } = {},
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      const item = items[index]!;
      if (options.shouldStop?.()) options.onSkipped?.(item, index);
      else await worker(item, index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane));
}
