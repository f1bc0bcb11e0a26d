/** What doctor reports, as data: finding kinds, severities and targets, and how a check's finding is completed. */

export type FindingKind =
  | 'orphan_database'
  | 'unregistered_database'
  | 'foreign_database'
  | 'foreign_user'
  | 'unmarked_database'
  | 'orphan_user'
  | 'missing_database'
  | 'missing_user'
  | 'suspended_can_login'
  | 'active_locked_out'
  | 'interrupted'
  | 'interrupted_backup'
  | 'failed_create'
  | 'pending_migrations'
  | 'failed_migration'
  | 'no_backup'
  | 'stale_backup'
  | 'backup_space'
  | 'backup_store'
  | 'leftover_upload'
  | 'backups_past_retention'
  | 'dump_tool'
  | 'server_unreachable'
  | 'server_identity'
  | 'admin_privilege'
  | 'stale_password'
  | 'password_login_fails'
  | 'registry_exposed'
  | 'credential_leftover'
  | 'replication_leftover'
  | 'tampered_migrations'
  /** A schema template built for other migrations, knexfile or server version, or a build killed half-way. */
  | 'stale_template'
  /** `doctor --schema-drift`: a variant of the fleet's structure that is not the expected one (see schemaDiff). */
  | 'schema_drift';

/**
 * `problem`: something is wrong and needs an operator (doctor exits 1); `notice`: worth knowing,
 * nothing is broken (pending migrations, a new tenant's first backup not yet due). `--strict`
 * treats notices as problems; `info`: said so that nobody wonders, never counted (a database that
 * is not this registry's).
 */
export type FindingSeverity = 'problem' | 'notice' | 'info';

/** What a finding is about, as data: `--fix` acts on it without reading the message. */
export type FindingTarget =
  | { type: 'tenant'; slug: string }
  | { type: 'database'; server: string; name: string }
  | { type: 'user'; server: string; name: string }
  | { type: 'server'; name: string }
  | { type: 'directory'; path: string }
  /** A backup store (`s3://bucket/prefix`), or an upload into it at `location`. */
  | { type: 'store'; location: string }
  | { type: 'registry' }
  /** The registry's key: `fingerprint` of the key an interrupted rotation goes to, `file` where --generate keeps it. */
  | { type: 'key'; fingerprint: string; file: string | null };

export interface Finding {
  kind: FindingKind;
  severity: FindingSeverity;
  target: FindingTarget;
  tenant: string | null;
  server: string | null;
  message: string;
  /**
   * For `interrupted`: the operation cut short (`create`, `delete`, `suspend`, `reactivate`,
   * `rotate-password`, or the step the registry recorded), which says how to finish it.
   */
  operation?: string;
  /**
   * For `unregistered_database`: what to adopt it as (the slug the naming template says, and the
   * user of that slug where one exists on the server), for the command that brings it back.
   */
  adopt?: { slug: string; user: string | null; createUser: boolean };
  /** Whether `doctor --fix` repairs it (orphans only with --drop-orphans). */
  autoFix: boolean;
  /** Set by --fix: whether the repair worked, and why not. */
  fixed?: boolean;
  fixError?: string;
  /** Set by --fix --drop-orphans: the backup of an orphan database, taken before it was dropped. */
  backup?: string;
}

/** A finding as the checks write it: severity (by kind), target (the tenant) and autoFix default. */
export type NewFinding = Omit<Finding, 'autoFix' | 'severity' | 'target'> &
  Partial<Pick<Finding, 'autoFix' | 'severity' | 'target'>>;

/** Kinds that are worth knowing but break nothing. */
const NOTICES: FindingKind[] = ['pending_migrations', 'schema_drift', 'stale_template'];
/** Kinds that are no business of this registry's. */
const INFOS: FindingKind[] = ['foreign_database', 'foreign_user'];

export function complete(finding: NewFinding): Finding {
  const target: FindingTarget =
    finding.target ??
    (finding.tenant ? { type: 'tenant', slug: finding.tenant } : { type: 'server', name: finding.server ?? '' });
  const severity = INFOS.includes(finding.kind) ? 'info' : NOTICES.includes(finding.kind) ? 'notice' : 'problem';
  return { autoFix: false, severity, ...finding, target };
}

/**
 * The findings of one examination as they are made, each with the repair `--fix` runs for it when
 * the check that made it knows one (others are repaired by kind: see doctor-repair.ts).
 */
export class FindingList {
  readonly findings: Finding[] = [];
  readonly repairs = new Map<Finding, () => Promise<void>>();

  add(finding: NewFinding, repair?: () => Promise<void>): void {
    const done = complete(finding);
    this.findings.push(done);
    if (repair) this.repairs.set(done, repair);
  }

  /** Keeps only `kept` (the same objects, in their order), as the registry recheck leaves them. */
  keepOnly(kept: Finding[]): void {
    this.findings.splice(0, this.findings.length, ...kept);
  }
}
