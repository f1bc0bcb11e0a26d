import { InterruptedError } from '../core/errors.js';
import type { RunInterrupt } from '../core/run-interrupt.js';

/** How long a cut command may take to record and report before the CLI gives up on it. */
const CUT_GRACE_MS = 5000;

let cutOnce = false;

/** Whether a command was cut (a second signal): the entry point then ends the process at once. */
export function wasCut(): boolean {
  return cutOnce;
}

/** What a fleet command holds while it runs: the signals, as a RunInterrupt, until `dispose`. */
export interface Interrupts extends RunInterrupt {
  stop: AbortSignal;
  cut: AbortSignal;
  /** Stops listening (the default behaviour of the signals returns). */
  dispose(): void;
}

/**
 * Turns SIGINT (Ctrl-C) and SIGTERM into a RunInterrupt while a fleet command runs: the first
 * stops it starting tenants (those under way finish), the second cuts those under way too, a
 * third ends the process as the signal normally would. Operations never listen for signals
 * themselves; they take the AbortSignals.
 */
export function listenForInterrupts(warn: (message: string) => void, what = 'tenants'): Interrupts {
  const stop = new AbortController();
  const cut = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (!stop.signal.aborted) {
      stop.abort(signal);
      warn(`tenantctl: ${signal}: starting no more ${what}; those under way finish (${signal} again cuts them)`);
    } else if (!cut.signal.aborted) {
      cutOnce = true;
      cut.abort(signal);
      warn(`tenantctl: ${signal} again: cutting the ${what} under way`);
    } else {
      dispose();
      process.kill(process.pid, signal);
    }
  };
  const dispose = () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return { stop: stop.signal, cut: cut.signal, dispose };
}

/**
 * Runs a fleet operation with the signals listened for. A cut operation settles at once with
 * what it has; one that does not within a few seconds is given up (InterruptedError, exit 130).
 */
export async function interruptible<T>(
  warn: (message: string) => void,
  operation: (interrupt: Interrupts) => Promise<T>,
  what?: string,
): Promise<T> {
  const interrupts = listenForInterrupts(warn, what);
  let timer: NodeJS.Timeout | undefined;
  const givenUp = new Promise<never>((_, reject) => {
    interrupts.cut.addEventListener(
      'abort',
      () => {
        timer = setTimeout(
          () => reject(new InterruptedError(`cut by ${String(interrupts.cut.reason)} before it could report`)),
          CUT_GRACE_MS,
        );
      },
      { once: true },
    );
  });
  givenUp.catch(() => undefined);
  try {
    return await Promise.race([operation(interrupts), givenUp]);
  } finally {
    clearTimeout(timer);
    interrupts.dispose();
  }
}
