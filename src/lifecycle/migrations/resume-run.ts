import type { Knex } from 'knex';
import { ConflictError, NotFoundError, UsageError } from '../../core/errors.js';
import { findRunRow, succeededTenantIds, type RunKind, type RunRow } from '../../registry/runs-repo.js';
import type { WaveConfig } from '../../config/wave-config.js';
import type { TenantSelection } from '../shared/select-tenants.js';

/** A staged rollout's options; stored in the run's options, so `--resume` runs the same waves. */
export interface RolloutOptions {
  /** `--canary`: tenants first; a failure among them starts no other. */
  canary?: string;
  /** `--waves 1,10%,100%`, or the config file's waves. */
  waves?: string | WaveConfig[];
  /** Bake time between waves, in ms. */
  pauseMs?: number;
  /** `--max-failures <n|p%>`: once that many tenants failed, no new tenant starts; the run is `halted`. */
  maxFailures?: string;
  /** The engine's lock timeout in each migration session, in ms. Default: the server's own. */
  lockTimeoutMs?: number;
  /** Times a tenant whose migration hit the lock timeout is tried again, later in the run. Default 0. */
  lockRetries?: number;
  /** A tenant taking longer is stopped and reported failed (timed out), in ms. */
  tenantTimeoutMs?: number;
  /** `--resume <id>`: continue that interrupted or halted run with the tenants it did not finish. */
  resume?: number;
  /** The run this one resumes (set by `--resume`). */
  resumedFrom?: number;
}

/** What a run stores as its options: enough to run it again the same way. */
export type StoredRunOptions = TenantSelection &
  RolloutOptions & { direction?: string; concurrency?: number; failFast?: boolean; backupFirst?: boolean };

/**
 * Where `--resume <id>` starts: the run's stored options (selection, waves, budget, timeouts),
 * and the tenants that already succeeded in it or in the runs it resumed. Only an interrupted
 * (killed) or halted run can be resumed.
 */
export async function resumePoint(
  knex: Knex,
  kind: RunKind,
  id: number,
): Promise<{ options: StoredRunOptions; finished: Set<number> }> {
  const run = await findRunRow(knex, id);
  if (!run) throw new NotFoundError(`no run #${id} in the registry`);
  if (run.kind !== kind) throw new UsageError(`run #${id} is a ${run.kind} run, not a ${kind} run`);
  if (run.status !== 'interrupted' && run.status !== 'halted') {
    throw new ConflictError(
      `run #${id} ${run.status === 'running' ? 'is still running' : `${run.status}`}: only an interrupted or halted run can be resumed${run.status === 'failed' ? ' (use --retry-failed)' : ''}`,
    );
  }
  const options = JSON.parse(run.options) as StoredRunOptions;
  const finished = new Set<number>();
  // A resumed run that is itself resumed: what every run of the chain finished counts.
  for (let at: number | undefined = id; at !== undefined;) {
    for (const tenant of await succeededTenantIds(knex, at)) finished.add(tenant);
    const row: RunRow | undefined = at === id ? run : await findRunRow(knex, at);
    at = row ? (JSON.parse(row.options) as StoredRunOptions).resumedFrom : undefined;
    if (at === id) break;
  }
  return { options, finished };
}
