import type { FleetRun, UnreachableServer } from '../../core/fleet-run.js';
import type { ErrorDetail } from '../../core/errors.js';
import type { RunInterrupt } from '../../core/run-interrupt.js';
import type { RunKind } from '../../registry/runs-repo.js';
import type { TenantWithServer } from '../../registry/tenants-repo.js';
import type { KnexUsed } from '../../tenant-schema/project-knex.js';
import type { TenantSelection } from '../shared/select-tenants.js';
import type { RolloutOptions } from './resume-run.js';

export interface MigrateFleetOptions extends TenantSelection, RolloutOptions {
  /** `up`: to the latest migration; `down`: roll back the last batch. */
  direction: 'up' | 'down';
  /** Tenants worked on at once. */
  concurrency: number;
  /** Report what would run; change nothing, take no lock, record no run. */
  dryRun?: boolean;
  /** Stop starting tenants after the first failure; the rest are `skipped`. */
  failFast?: boolean;
  /** How long to wait for a running migration to finish before giving up. Default 0. */
  waitMs?: number;
  /** Stops the run early (see RunInterrupt): the CLI's Ctrl-C and SIGTERM. */
  interrupt?: RunInterrupt;
  /** Back up each tenant with migrations pending right before they run, under its lock (up only). */
  backupFirst?: boolean;
}

/** The backup `--backup-first` took of a tenant before migrating it. */
export interface BackupTaken {
  id: number;
  file: string;
  bytes: number | null;
}

/**
 * `busy`: another operation (a restore, a delete…) held the tenant's lock; `--retry-failed` picks it up.
 * `unreachable`: its server could not be reached.
 * `moved`: moved, while the run went on, off the servers the run was asked for (`--server`): not worked on.
 */
export type TenantOutcomeKind =
  'migrated' | 'rolled_back' | 'up_to_date' | 'pending' | 'failed' | 'unreachable' | 'skipped' | 'busy' | 'moved';

export interface TenantMigrationOutcome {
  slug: string;
  server: string;
  outcome: TenantOutcomeKind;
  /** Migrations applied (up), rolled back (down), or that would be applied (dry run). */
  migrations: string[];
  error?: string;
  durationMs: number;
  /** The wave it ran in (1-based); only in a staged run (canary or waves). */
  wave?: number;
  /** The migration gave up waiting for a lock (`--lock-timeout`); `error` starts with "lock timeout". */
  lockTimeout?: boolean;
  /** Stopped after `--tenant-timeout`. */
  timedOut?: boolean;
  /** Cut while it ran: by a second signal, or because the registry (and the run's lock) was lost. */
  cut?: boolean;
  /** The server it was listed on, if it was moved while the run went on (`server`: where it was worked on). */
  movedFrom?: string;
  /** Applied migrations its directory lacks (every one; `error` names them too), when that failed it. */
  missingMigrations?: string[];
  /** What the database said beyond `error`'s message (`detail`, `hint`, `constraint`, `code`…), when it failed it. */
  detail?: ErrorDetail;
  /** What its migrations printed (console.log & co., sent to stderr as they ran), capped; absent when nothing. */
  log?: string[];
  /** `--backup-first`: the backup taken right before its migrations ran. */
  backup?: BackupTaken;
}

/** A wave of a staged run, as the result reports it. */
export interface WaveSummary {
  number: number;
  name: string;
  tenants: number;
}

export interface MigrateFleetResult extends FleetRun<TenantMigrationOutcome, TenantOutcomeKind> {
  /** The registry's id for this run; null for a dry run. */
  runId: number | null;
  kind: RunKind;
  dryRun: boolean;
  ok: boolean;
  total: number;
  counts: Record<TenantOutcomeKind, number>;
  /** The migrations in the migrations directory, in order. */
  available: string[];
  /** The knex that ran them: the project's own where its migrations directory resolves one. */
  knex: KnexUsed;
  tenants: TenantMigrationOutcome[];
  /** Servers that could not be reached: their tenants are `unreachable`, and the run is incomplete. */
  unreachableServers: UnreachableServer[];
  durationMs: number;
  /** Staged runs only: the waves in order. */
  waves?: WaveSummary[];
  /** Why the run halted (failure budget, failed canary, failed wave); the run is recorded `halted`. */
  halted?: string;
  /** `--resume`: the run this one continued. */
  resumedFrom?: number;
  /**
   * Stopped by the caller (the signal, e.g. `SIGINT`): tenants not started are `skipped`; the run is
   * recorded `interrupted`.
   */
  interrupted?: string;
  /**
   * The registry connection was lost mid-run, and the run's lock with it: the run stopped at once
   * (tenants under way cut, the rest `skipped`), recorded what it could, and is `interrupted`.
   */
  registryLost?: { error: string; unrecorded: number };
}

/** One tenant's outcome as its worker returns it; `worked`: the row it acted on (fresh, under the lock). */
export type Settled = Omit<TenantMigrationOutcome, 'slug' | 'server'> & { worked?: TenantWithServer };

/** A settled outcome with nothing to report but its kind (and why). */
export function settledAs(outcome: TenantOutcomeKind, error?: string): Settled {
  return { outcome, migrations: [], durationMs: 0, ...(error === undefined ? {} : { error }) };
}
