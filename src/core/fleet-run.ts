import { UnreachableError, type UnreachableReason } from './errors.js';

/**
 * The one shape of what a fleet command returns (migrate-all, rollback --all, backup, backup
 * verify, move --from-server, rotate-password, stats), and of how it reports progress. Types
 * only (and the one rule they share), so the CLI renders them without reaching into lifecycle.
 */

/** A server a fleet command could not reach: named once, with how many of its tenants it left out. */
export interface UnreachableServer {
  server: string;
  address: string;
  reason: UnreachableReason;
  /** The full message, for logs. */
  error: string;
  tenants: number;
}

/**
 * A fleet run: one outcome per tenant, in the order the tenants were selected. Each command's
 * result instantiates it with its own outcome; the optional parts are those only some commands
 * have (their field names are what `--json` prints, so they stay as each command named them).
 */
export interface FleetRun<Outcome, Kind extends string = string> {
  tenants: Outcome[];
  /** Every tenant made it and the run was not stopped (not judged by `stats`, which only reads). */
  ok?: boolean;
  total?: number;
  /** How many tenants ended with each outcome. */
  counts?: Record<Kind, number>;
  /** Servers that could not be reached (commands that reach every server first). */
  unreachableServers?: UnreachableServer[];
  /** The registry's id for a recorded run (migrate-all, rollback --all); null when not recorded. */
  runId?: number | null;
  durationMs?: number;
  /** Stopped by the caller (the signal, e.g. `SIGINT`): tenants not started are `skipped`. */
  interrupted?: string;
}

/** How far a fleet run is, as it reports it while it runs. */
export interface FleetProgress {
  done: number;
  total: number;
  failed: number;
  elapsedMs: number;
  /** In a staged run: the wave under way (or next, while pausing). */
  wave?: { number: number; name: string; of: number };
  /** Time left of the pause before `wave`. */
  pauseLeftMs?: number;
}

/** A progress callback that ignores what it is told: the default of every fleet operation. */
export const ignoreProgress = (_progress: FleetProgress): void => {};

/**
 * Progress of a run of one batch: call the returned function as each of `total` tenants settles
 * (`failed`: whether it counts as failed), and `onProgress` is told where the run is.
 */
export function progressCounter(
  total: number,
  onProgress: (progress: FleetProgress) => void,
  started = Date.now(),
): (failed: boolean) => void {
  let done = 0;
  let failed = 0;
  return (didFail) => {
    if (didFail) failed++;
    onProgress({ done: ++done, total, failed, elapsedMs: Date.now() - started });
  };
}

/**
 * A command run on one tenant it was given by name, whose server could not be reached, fails as
 * every one-tenant command does then: UnreachableError (exit 5), not a fleet result. A run whose
 * rows carry no outcome (stats) knows that from the servers it could not reach.
 */
export function assertNamedTenantReached(
  run: FleetRun<{ outcome?: string; error?: string; server?: string }>,
  named: boolean,
): void {
  if (!named) return;
  const only = run.tenants[0];
  if (only?.outcome === 'unreachable')
    throw new UnreachableError(only.error ?? `server "${only.server}" is unreachable`);
  const down = run.unreachableServers?.[0];
  if (only?.outcome === undefined && down) throw new UnreachableError(down.error);
}
