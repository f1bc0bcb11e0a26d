import type { FleetRun, UnreachableServer } from '../../core/fleet-run.js';
import type { RunInterrupt } from '../../core/run-interrupt.js';
import type { TenantWithServer } from '../../registry/tenants-repo.js';
import type { RolloutOptions } from '../migrations/resume-run.js';
import type { TenantSelection } from '../shared/select-tenants.js';

/** What `exec` runs on every tenant: a file of SQL statements, or a script module. */
export interface ExecWorkSpec {
  /** `--sql-file`: statements separated by `;`, all run in one transaction per tenant. */
  sqlFile?: string;
  /** `--script`: a module whose default export is `async function (knex, tenant)`. */
  script?: string;
}

export interface ExecFleetOptions extends TenantSelection, RolloutOptions, ExecWorkSpec {
  /** Tenants worked on at once. */
  concurrency: number;
  /** Run it in a transaction that is rolled back: what it would change, nothing changed. No run recorded. */
  dryRun?: boolean;
  /** Stops the run early (the CLI's Ctrl-C and SIGTERM). */
  interrupt?: RunInterrupt;
  /** How long to wait for another exec run to finish. Default 0. */
  waitMs?: number;
}

/** What the script is handed about its tenant (never its credentials). */
export interface ExecTenantInfo {
  slug: string;
  plan: string | null;
  status: string;
  server: string;
  database: string;
  /** Whether this is a dry run (the transaction is rolled back after the script). */
  dryRun: boolean;
}

/**
 * `executed`: ran and committed (or, in a dry run, ran and was rolled back); `failed`: the
 * database's message in `error`, its transaction rolled back where the engine can; `busy`:
 * another operation held the tenant's lock; `unreachable`: its server could not be reached;
 * `skipped`: not started (halted, interrupted, deleted meanwhile); `moved`: off the servers asked.
 */
export type ExecOutcomeKind = 'executed' | 'failed' | 'unreachable' | 'skipped' | 'busy' | 'moved';

export interface ExecTenantOutcome {
  slug: string;
  server: string;
  outcome: ExecOutcomeKind;
  /** Rows the statements changed, where the engine says (a script's own statements: not counted). */
  rowsChanged?: number;
  /** Statements run (SQL file). */
  statements?: number;
  /**
   * Whether the tenant's work was one transaction, rolled back as a whole on a failure (and in a
   * dry run). False on MySQL when the SQL file holds DDL, which MySQL commits on its own.
   */
  atomic?: boolean;
  error?: string;
  durationMs: number;
  wave?: number;
  lockTimeout?: boolean;
  timedOut?: boolean;
  cut?: boolean;
  movedFrom?: string;
  /** What the script printed (sent to stderr as it ran), capped. */
  log?: string[];
}

export interface ExecFleetResult extends FleetRun<ExecTenantOutcome, ExecOutcomeKind> {
  /** The registry's run id; null for a dry run. */
  runId: number | null;
  dryRun: boolean;
  ok: boolean;
  total: number;
  counts: Record<ExecOutcomeKind, number>;
  /** What ran: the file, its kind and its sha256 (what the audit log keeps too). */
  work: { kind: 'sql' | 'script'; file: string; sha256: string; statements?: number };
  /** Engines whose tenants could not run it as one transaction, and why (MySQL DDL). */
  notes: string[];
  tenants: ExecTenantOutcome[];
  unreachableServers: UnreachableServer[];
  durationMs: number;
  rowsChanged: number;
  waves?: Array<{ number: number; name: string; tenants: number }>;
  halted?: string;
  resumedFrom?: number;
  /**
   * `--resume`: tenants an earlier run was killed while committing (between its mark and the
   * commit): they may or may not have the change, and are not run again. Check them by hand.
   */
  inDoubt?: string[];
  interrupted?: string;
  registryLost?: { error: string; unrecorded: number };
}

/** One tenant's outcome as its worker returns it; `worked`: the row it acted on. */
export type ExecSettled = Omit<ExecTenantOutcome, 'slug' | 'server'> & {
  worked?: TenantWithServer;
  /** The registry row of its `committing` mark (see execTenant): its final outcome replaces it. */
  recordId?: number;
};

export function execSettled(outcome: ExecOutcomeKind, error?: string): ExecSettled {
  return { outcome, durationMs: 0, ...(error === undefined ? {} : { error }) };
}
