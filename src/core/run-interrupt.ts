/**
 * How a caller stops a fleet run before its end (the CLI turns SIGINT and SIGTERM into these;
 * operations never listen for signals themselves). Both are optional: without them a run goes on
 * to its end.
 */
export interface RunInterrupt {
  /** Aborted: start no more tenants; those under way finish (within their own timeouts). */
  stop?: AbortSignal;
  /** Aborted: also cut the tenants under way at once, as `--tenant-timeout` cuts one. */
  cut?: AbortSignal;
}

/** Why the run was stopped (the abort reason, e.g. `SIGINT`), or undefined while it was not. */
export function stoppedBy(interrupt: RunInterrupt | undefined): string | undefined {
  const signal = interrupt?.cut?.aborted ? interrupt.cut : interrupt?.stop?.aborted ? interrupt.stop : undefined;
  if (!signal) return undefined;
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason.message;
  return typeof reason === 'string' ? reason : 'interrupted';
}

/** Whether no more tenants may start. */
export function stopping(interrupt: RunInterrupt | undefined): boolean {
  return Boolean(interrupt?.stop?.aborted || interrupt?.cut?.aborted);
}

const CUT = Symbol('cut');

/**
 * Settles with `work`, or with `onCut()` the moment `cut` is aborted, whichever is first. The cut
 * work is abandoned, not awaited: whoever cuts makes sure it cannot do harm (its connections
 * closed, its tool killed, or the process ending).
 */
export async function untilCut<T>(work: Promise<T>, cut: AbortSignal | undefined, onCut: () => T): Promise<T> {
  if (!cut) return work;
  if (cut.aborted) {
    work.catch(() => undefined);
    return onCut();
  }
  let listener: (() => void) | undefined;
  const cutting = new Promise<typeof CUT>((resolve) => {
    listener = () => resolve(CUT);
    cut.addEventListener('abort', listener, { once: true });
  });
  try {
    const first = await Promise.race([work, cutting]);
    if (first !== CUT) return first as T;
  } finally {
    cut.removeEventListener('abort', listener!);
  }
  work.catch(() => undefined);
  return onCut();
}

/** Resolves after `ms`, or at once when `signal` is aborted (a pause a stop need not sit out). */
export function sleepUnless(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
