export interface RunPoolOptions<T> {
  /** Checked before each item starts; when true the item goes to `onSkipped` instead. */
  shouldStop?: () => boolean;
  onSkipped?: (item: T, index: number) => void;
  /** Items with the same key share a limit of their own (a database server), under the total. */
  keyOf?: (item: T) => string | number;
  /** The most items of one key at once. Default: no limit beyond `concurrency`. */
  limitOf?: (key: string | number) => number;
}

/**
 * Runs `worker` over `items` with at most `concurrency` at a time. Workers pull from one shared
 * queue, so a slow item never holds back a fixed chunk. With `keyOf`, items of one key never run
 * more than `limitOf(key)` at once: the next free slot goes to the first waiting item whose key has
 * room, so a slow server's queue does not hold back the others. When `shouldStop()` turns true,
 * items not yet started are handed to `onSkipped` instead of being run. A worker that throws
 * rejects the whole pool (workers report failures as results instead).
 */
export function runPool<T>(
  items: readonly T[],
  concurrency: number,
  worker: (item: T, index: number) => Promise<void>,
  options: RunPoolOptions<T> = {},
): Promise<void> {
  const waiting = items.map((item, index) => ({ item, index }));
  const running = new Map<string | number, number>();
  const total = Math.max(1, concurrency);
  let active = 0;
  let failed = false;

  return new Promise<void>((resolve, reject) => {
    const hasRoom = (item: T) => {
      if (!options.keyOf) return true;
      const key = options.keyOf(item);
      return (running.get(key) ?? 0) < Math.max(1, options.limitOf?.(key) ?? total);
    };
    const pump = () => {
      if (failed) return;
      while (active < total && waiting.length > 0) {
        if (options.shouldStop?.()) {
          for (const { item, index } of waiting.splice(0)) options.onSkipped?.(item, index);
          break;
        }
        const at = waiting.findIndex(({ item }) => hasRoom(item));
        if (at < 0) break;
        const { item, index } = waiting.splice(at, 1)[0]!;
        const key = options.keyOf?.(item);
        if (key !== undefined) running.set(key, (running.get(key) ?? 0) + 1);
        active++;
        worker(item, index).then(
          () => {
            active--;
            if (key !== undefined) running.set(key, running.get(key)! - 1);
            pump();
          },
          (error: unknown) => {
            failed = true;
            reject(error);
          },
        );
      }
      if (active === 0 && waiting.length === 0) resolve();
    };
    pump();
  });
}
