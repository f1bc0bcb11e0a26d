/** Doctor as a whole: one examination of the fleet (examineFleet), then its conclusion (recheck, repairs, counts). */
import type { Context } from '../../context/context.js';
import { stoppedBy, stopping, untilCut, type RunInterrupt } from '../../core/run-interrupt.js';
import { interruptedRotation } from '../secrets/rotate-key.js';
import { credentialLeftoverFinding, registryExposureFinding } from './doctor-isolation.js';
import { stillFound } from './doctor-recheck.js';
import { repairFindings } from './doctor-repair.js';
import { secretFindings } from './doctor-secrets.js';
import { examineHealth } from './examine-health.js';
import { examineSchemaDrift } from './examine-schema.js';
import { examineOperations } from './examine-operations.js';
import { examineServer } from './examine-servers.js';
import { templateFindings } from './doctor-templates.js';
import { FindingList, type Finding } from './findings.js';
import { withPrivilegeFinding } from './privilege-findings.js';
import { readFleet, type FleetView } from './fleet-view.js';
import { loadTenantRow } from '../shared/load-tenant.js';
import { probeTenant, tenantHealth, type HealthProbe, type TenantHealth } from './tenant-health.js';

export type { TenantHealth, HealthCheck } from './tenant-health.js';
export type { Finding, FindingKind, FindingSeverity, FindingTarget, NewFinding } from './findings.js';

/** What the examination takes: the limits findings are judged by, and the signals that stop it. */
export interface ExamineOptions {
  /** A backup older than this is a finding. Default 24 hours. */
  backupMaxAgeHours?: number;
  /** A tenant password not changed for longer is a finding. Default 365 days. */
  passwordMaxAgeHours?: number;
  /** Stops the examination early (the CLI's Ctrl-C and SIGTERM): see RunInterrupt. */
  interrupt?: RunInterrupt;
  /** Also read every tenant's structure and report each variant that is not the expected one (`schema_drift`). */
  schemaDrift?: boolean;
  /**
   * One tenant only (`doctor <slug>`): its row, its server, its findings, and a health summary
   * (`DoctorResult.health`). Orphans are never judged then (the view holds no other tenant).
   */
  tenant?: string;
}

/** What is done with an examination's findings. */
export interface ConcludeOptions {
  /** Repair what is safe to repair unattended. */
  fix?: boolean;
  /** With fix: also drop orphan databases and users (the CLI asks first). */
  dropOrphans?: boolean;
  /** Notices count against `ok` too. */
  strict?: boolean;
}

export interface DoctorOptions extends ExamineOptions, ConcludeOptions {}

export interface DoctorResult {
  /** No problem left unrepaired (with `strict`, no notice either). */
  ok: boolean;
  problems: number;
  notices: number;
  findings: Finding[];
  fixed: number;
  /** Stopped by the caller (the signal): the findings are those made until then, and nothing was repaired. */
  interrupted?: string;
  /** With `tenant`: that tenant's health, check by check. */
  health?: TenantHealth;
}

/** One examination of the fleet: its findings so far, and what concluding it (repairs among it) needs. */
export interface DoctorExamination {
  readonly findings: readonly Finding[];
  /** Stopped by the caller: the findings are those made until then. */
  readonly interrupted?: string;
  readonly fleet: FleetView;
  readonly list: FindingList;
  /** With `tenant`: what the summary needs besides the findings (lock, last backup). */
  readonly probe?: HealthProbe;
}

/** Compares the registry with the servers and this machine; repairs what is safe with `fix`. */
export async function runDoctor(ctx: Context, options: DoctorOptions = {}): Promise<DoctorResult> {
  return concludeExamination(ctx, await examineFleet(ctx, options), options);
}

/**
 * Examines the registry, each server, the tenants' operations, secrets, migrations and backups,
 * and this machine, once. Repairs nothing: `concludeExamination` does, so a caller can ask an
 * operator about the findings (the orphans to drop) in between.
 */
export async function examineFleet(ctx: Context, options: ExamineOptions = {}): Promise<DoctorExamination> {
  if (options.tenant) return examineTenant(ctx, options.tenant, options);
  const fleet = await readFleet(ctx);
  const list = new FindingList();
  await examineRegistry(ctx, list);
  // Everything but reaching the servers (bounded by the connect timeout) stops at a signal: the
  // first between checks, the second at once, with the findings made so far.
  await untilCut(examineEach(ctx, fleet, list, options), options.interrupt?.cut, () => undefined);
  const interrupted = stoppedBy(options.interrupt);
  // Isolation and secrets at rest: who else can reach the registry, and what killed runs left on disk.
  const exposed = await registryExposureFinding(ctx);
  if (exposed) list.add(exposed);
  const leftover = credentialLeftoverFinding(ctx);
  if (leftover) list.add(leftover.finding, leftover.repair);
  return { findings: list.findings, ...(interrupted ? { interrupted } : {}), fleet, list };
}

/**
 * One tenant's examination: the same checks on its row and its server only, keeping the findings
 * about it and about its server (unreachable, dump tools); the machine's and the registry's are
 * the fleet doctor's.
 */
async function examineTenant(ctx: Context, slug: string, options: ExamineOptions): Promise<DoctorExamination> {
  const row = await loadTenantRow(ctx, slug);
  const fleet = await readFleet(ctx, row);
  const list = new FindingList();
  await untilCut(examineEach(ctx, fleet, list, options), options.interrupt?.cut, () => undefined);
  const interrupted = stoppedBy(options.interrupt);
  const serverName = fleet.servers[0]?.name ?? null;
  list.keepOnly(list.findings.filter((f) => f.tenant === slug || (f.tenant === null && f.server === serverName)));
  const probe = await probeTenant(ctx, row);
  return { findings: list.findings, ...(interrupted ? { interrupted } : {}), fleet, list, probe };
}

/** A key rotation killed half-way: secrets under two keys until it is run again. */
async function examineRegistry(ctx: Context, list: FindingList): Promise<void> {
  const rotation = await interruptedRotation(ctx);
  if (!rotation) return;
  list.add({
    kind: 'interrupted',
    operation: 'rotate-key',
    target: { type: 'key', fingerprint: rotation.to, file: rotation.keyFile },
    tenant: null,
    server: null,
    message: `a rotation of the secret key to key ${rotation.to} was interrupted: ${rotation.done} of ${rotation.done + rotation.left} secrets are under the new key, the rest under the old one`,
  });
}

/** The checks in turn, stopping between them at the first signal. */
async function examineEach(ctx: Context, fleet: FleetView, list: FindingList, options: ExamineOptions) {
  const stop = () => stopping(options.interrupt);
  for (const serverRow of fleet.servers) {
    if (stop()) return;
    const live = fleet.rows.filter((r) => r.server_id === serverRow.id && r.status !== 'deleted').length;
    await withPrivilegeFinding(
      list,
      fleet.servers,
      `its ${live} tenant${live === 1 ? '' : 's'}`,
      () => examineServer(ctx, fleet, serverRow, list),
      serverRow,
    );
  }
  if (stop()) return;
  // The servers' schema templates: a fleet's, not one tenant's.
  if (!fleet.only)
    await withPrivilegeFinding(list, fleet.servers, 'schema templates', () => templateFindings(ctx, fleet, list));
  if (stop()) return;
  await withPrivilegeFinding(list, fleet.servers, 'interrupted operations', () => examineOperations(ctx, fleet, list));
  if (stop()) return;
  // Passwords: age, interrupted rotations, and a real login (tenants already found broken above are not tried).
  const reported = new Set(list.findings.map((f) => f.tenant));
  await withPrivilegeFinding(list, fleet.servers, 'passwords', async () => {
    const secrets = await secretFindings(
      ctx,
      fleet.rows.filter((r) => !reported.has(r.slug)),
      fleet.servers,
      options.passwordMaxAgeHours ?? 365 * 24,
    );
    for (const finding of secrets) list.add(finding);
  });
  if (stop()) return;
  await withPrivilegeFinding(list, fleet.servers, 'migrations and backups', () =>
    examineHealth(ctx, fleet, options.backupMaxAgeHours ?? 24, list),
  );
  if (stop() || !options.schemaDrift) return;
  await examineSchemaDrift(ctx, list, options.tenant);
}

/**
 * Keeps the findings that still hold, repairs them with `fix` (orphans only with `dropOrphans`)
 * unless the examination was stopped, and counts what is left.
 */
export async function concludeExamination(
  ctx: Context,
  examination: DoctorExamination,
  options: ConcludeOptions = {},
): Promise<DoctorResult> {
  const { fleet, list, interrupted } = examination;
  // What was read at the start may be stale by now (a create, a move or a delete landed meanwhile,
  // or an operator took time to answer): a finding about a tenant whose row changed, or about a
  // database a tenant now lives in, is not one.
  list.keepOnly(await stillFound(ctx, list.findings, fleet.rows, fleet.alike));
  for (const orphan of list.findings.filter((f) => f.kind === 'orphan_database' || f.kind === 'orphan_user'))
    orphan.autoFix = Boolean(options.dropOrphans);
  // Stopped: nothing is repaired from findings that may be incomplete.
  const fixed = options.fix && !interrupted ? await repairFindings(ctx, fleet, list) : 0;
  const findings = list.findings;
  const counting = (f: Finding) => f.severity === 'problem' || (f.severity === 'notice' && Boolean(options.strict));
  const ok = findings.filter(counting).every((f) => f.fixed) && !interrupted;
  return {
    ok,
    ...(examination.probe ? { health: tenantHealth(examination.probe, fleet, findings) } : {}),
    ...(interrupted ? { interrupted } : {}),
    problems: findings.filter((f) => f.severity === 'problem').length,
    notices: findings.filter((f) => f.severity === 'notice').length,
    findings,
    fixed,
  };
}
