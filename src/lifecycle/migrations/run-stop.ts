import { errorMessage } from '../../core/errors.js';
import { stoppedBy, type RunInterrupt } from '../../core/run-interrupt.js';
import { REGISTRY_RETRY_MS } from './registry-retry.js';

/**
 * What stops a migration run: the caller's interrupt (a signal), or the loss of the registry
 * session, which is the loss of the run's lock: another run may start at once, so this one starts
 * no more tenants and cuts those under way (their transactions roll back), as a second signal would.
 */
export class RunStop {
  /** Aborted when no tenant may start any more. */
  readonly stopSignal: AbortSignal | undefined;
  /** Aborted when tenants under way are cut. */
  readonly cutSignal: AbortSignal | undefined;
  private lostAt: number | undefined;

  constructor(
    private readonly lost: AbortSignal | undefined,
    private readonly interrupt: RunInterrupt | undefined,
  ) {
    this.stopSignal = anySignal(interrupt?.stop, interrupt?.cut, lost);
    this.cutSignal = anySignal(interrupt?.cut, lost);
    this.lostAt = lost?.aborted ? Date.now() : undefined;
    lost?.addEventListener('abort', () => (this.lostAt = Date.now()), { once: true });
  }

  /** Whether the registry (and the run's lock) was lost. */
  get registryLost(): boolean {
    return Boolean(this.lost?.aborted);
  }

  /** The lost registry's error, for the result. */
  lostReason(): string {
    return errorMessage(this.lost?.reason);
  }

  /** Once the registry is lost, its writes are tried again until 30 s after the loss (all of them together). */
  retryBudget(): number {
    return this.lostAt === undefined ? 0 : Math.max(0, this.lostAt + REGISTRY_RETRY_MS - Date.now());
  }

  /** Why the run stopped, in the words its tenants and its record give. */
  reason(): string {
    return this.registryLost
      ? `the registry connection was lost (${this.lostReason()})`
      : `stopped by ${stoppedBy(this.interrupt)}`;
  }
}

/** A signal aborted when any of `signals` is (undefined ones ignored). */
function anySignal(...signals: Array<AbortSignal | undefined>): AbortSignal | undefined {
  const given = signals.filter((s): s is AbortSignal => s !== undefined);
  return given.length ? AbortSignal.any(given) : undefined;
}
