import { dumpToolsFrom } from '../../engines/engine-driver.js';
import { existsSync } from 'node:fs';
import type { Context, ServerHandle } from '../../context/context.js';
import { ServerIdentityError, TenantctlError, errorMessage } from '../../core/errors.js';
import { stoppedBy, stopping, untilCut, type RunInterrupt } from '../../core/run-interrupt.js';
import { listServerRows } from '../../registry/servers-repo.js';
import { latestOutcomes } from '../../registry/runs-repo.js';
import { listTenantRows, type TenantRow } from '../../registry/tenants-repo.js';
import { latestGoodBackup } from '../../registry/backups-repo.js';
import { formatBytes } from '../../core/format-bytes.js';
import { freeBytesAt, nextDumpBytes } from '../shared/backup-space.js';
import { REGISTRY_SLUG } from '../backups/backup-tenants.js';
import { createTenant } from '../tenants/create-tenant.js';
import { deleteTenant } from '../tenants/delete-tenant.js';
import { clearInterruptedBackup, findInterruptedBackups, partialFileFor } from '../backups/interrupted-backups.js';
import { secretFindings } from './doctor-secrets.js';
import { credentialLeftoverFinding, registryExposureFinding } from './doctor-isolation.js';
import { rotateTenantPassword } from '../secrets/rotate-password.js';
import { interruptedRotation } from '../secrets/rotate-key.js';
import { WITH_DATABASE } from '../shared/select-tenants.js';
import { suspendTenant } from '../tenants/suspend-tenant.js';
import { tenantLockName } from '../shared/tenant-lock.js';
import { tenantStats } from '../tenants/tenant-stats.js';
import { databasesHeldByMoves } from '../../registry/moves-repo.js';
import { restoreOwnPassword } from '../shared/tenant-login.js';
import { dropOrphan, sameServer } from './orphan-drop.js';
import { interruptedMoves } from './doctor-moves.js';
import { isMoving } from '../shared/tenant-moving.js';
import { stillFound } from './doctor-recheck.js';

export type FindingKind =
  | 'orphan_database'
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
  | 'dump_tool'
  | 'server_unreachable'
  | 'server_identity'
  | 'stale_password'
  | 'password_login_fails'
  | 'registry_exposed'
  | 'credential_leftover'
  | 'tampered_migrations';

/**
 * `problem`: something is wrong and needs an operator (doctor exits 1); `notice`: worth knowing,
 * nothing is broken (pending migrations, a new tenant's first backup not yet due). `--strict`
 * treats notices as problems.
 */
export type FindingSeverity = 'problem' | 'notice';

/** What a finding is about, as data: `--fix` acts on it without reading the message. */
export type FindingTarget =
  | { type: 'tenant'; slug: string }
  | { type: 'database'; server: string; name: string }
  | { type: 'user'; server: string; name: string }
  | { type: 'server'; name: string }
  | { type: 'directory'; path: string }
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
  /** Whether `doctor --fix` repairs it (orphans only with --drop-orphans). */
  autoFix: boolean;
  /** Set by --fix: whether the repair worked, and why not. */
  fixed?: boolean;
  fixError?: string;
  /** Set by --fix --drop-orphans: the backup of an orphan database, taken before it was dropped. */
  backup?: string;
}

export interface DoctorOptions {
  /** A backup older than this is a finding. Default 24 hours. */
  backupMaxAgeHours?: number;
  /** A tenant password not changed for longer is a finding. Default 365 days. */
  passwordMaxAgeHours?: number;
  /** Repair what is safe to repair unattended. */
  fix?: boolean;
  /** With fix: also drop orphan databases and users (the CLI asks first). */
  dropOrphans?: boolean;
  /** Notices count against `ok` too. */
  strict?: boolean;
  /** Stops the examination early (the CLI's Ctrl-C and SIGTERM): see RunInterrupt. */
  interrupt?: RunInterrupt;
}

export interface DoctorResult {
  /** No problem left unrepaired (with `strict`, no notice either). */
  ok: boolean;
  problems: number;
  notices: number;
  findings: Finding[];
  fixed: number;
  /** Stopped by the caller (the signal): the findings are those made until then, and nothing was repaired. */
  interrupted?: string;
}

/** Names a naming template can produce: `tenant_{slug}` → /^tenant_[a-z][a-z0-9_]*$/. */
function templatePattern(template: string): RegExp {
  const [before, after] = template.split('{slug}').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${before}[a-z][a-z0-9_]*${after ?? ''}$`);
}

/** Compares the registry with the servers and this machine; repairs what is safe with `fix`. */
export async function runDoctor(ctx: Context, options: DoctorOptions = {}): Promise<DoctorResult> {
  const registry = await ctx.registry();
  const rows = await listTenantRows(registry.knex);
  const findings: Finding[] = [];
  const add = (finding: NewFinding) => findings.push(complete(finding));
  const servers = await listServerRows(registry.knex);
  const movedHere = await databasesHeldByMoves(registry.knex);

  // Every server at once, and what each says it is: rows of one server (two names for it) share
  // their tenants, so none of them calls another's databases orphans. A row whose server never
  // said (unreachable since before identities were kept) might be any server of its engine.
  const handles = new Map<number, ServerHandle>();
  const failures = new Map<number, unknown>();
  await Promise.all(
    servers.map(async (serverRow) => {
      try {
        const handle = await ctx.server(serverRow.id);
        await handle.version();
        handles.set(serverRow.id, handle);
      } catch (error) {
        failures.set(serverRow.id, error);
      }
    }),
  );
  const identities = new Map([...handles].map(([id, h]) => [id, h.identity]));
  const alike = (a: number, b: number) => {
    const of = (id: number) => {
      const row = servers.find((r) => r.id === id);
      return { id, engine: row?.engine ?? '', identity: identities.get(id) ?? row?.identity ?? null };
    };
    return sameServer(of(a), of(b)) !== 'no';
  };

  // A key rotation killed half-way: secrets under two keys until it is run again.
  const rotation = await interruptedRotation(ctx);
  if (rotation) {
    add({
      kind: 'interrupted',
      operation: 'rotate-key',
      target: { type: 'key', fingerprint: rotation.to, file: rotation.keyFile },
      tenant: null,
      server: null,
      message: `a rotation of the secret key to key ${rotation.to} was interrupted: ${rotation.done} of ${rotation.done + rotation.left} secrets are under the new key, the rest under the old one`,
    });
  }

  const repairs = new Map<Finding, () => Promise<void>>();
  const stop = () => stopping(options.interrupt);
  // Everything but reaching the servers (bounded by the connect timeout) stops at a signal: the
  // first between checks, the second at once, with the findings made so far.
  const examine = async () => {
    // Per server: orphans, missing databases and users, access that does not match the status, tools.
    for (const serverRow of servers) {
      if (stop()) return;
      const tenantsHere = rows.filter((r) => r.server_id === serverRow.id);
      const handle = handles.get(serverRow.id);
      if (!handle) {
        // The other servers are still checked; this one's tenants are not judged from here.
        const error = failures.get(serverRow.id);
        const live = tenantsHere.filter((r) => r.status !== 'deleted').length;
        add({
          kind: error instanceof ServerIdentityError ? 'server_identity' : 'server_unreachable',
          target: { type: 'server', name: serverRow.name },
          tenant: null,
          server: serverRow.name,
          message: `${errorMessage(error)}; ${live} tenant${live === 1 ? '' : 's'} not checked`,
        });
        continue;
      }
      const server = handle.connection;
      const [databases, users] = await Promise.all([server.listDatabases(), server.users?.listUsers() ?? []]);
      // Whatever server row a tenant was registered through: it is this server's if the server is one.
      const livesHere = rows.filter((r) => r.status !== 'deleted' && alike(r.server_id, serverRow.id));
      const known = new Set(livesHere.map((r) => r.database_name));
      const knownUsers = new Set(livesHere.filter((r) => r.database_user).map((r) => r.database_user!));
      for (const held of movedHere.filter((h) => alike(h.serverId, serverRow.id))) {
        known.add(held.database);
        if (held.user) knownUsers.add(held.user);
      }
      const dbPattern = templatePattern(ctx.config.databaseNameTemplate);
      const userPattern = templatePattern(ctx.config.userNameTemplate);
      // Names the engine keeps for itself (and tenantctl's own mark) are never a tenant's, whatever the template.
      const ours = (name: string) => !server.driver.isReservedName(name);
      for (const db of databases.filter((d) => dbPattern.test(d) && ours(d) && !known.has(d))) {
        add({
          kind: 'orphan_database',
          target: { type: 'database', server: serverRow.name, name: db },
          tenant: null,
          server: serverRow.name,
          message: `database "${db}" follows the naming template but belongs to no tenant`,
          autoFix: Boolean(options.dropOrphans),
        });
      }
      for (const user of users.filter((u) => userPattern.test(u) && ours(u) && !knownUsers.has(u))) {
        add({
          kind: 'orphan_user',
          target: { type: 'user', server: serverRow.name, name: user },
          tenant: null,
          server: serverRow.name,
          message: `database user "${user}" follows the naming template but belongs to no tenant`,
          autoFix: Boolean(options.dropOrphans),
        });
      }
      const present = new Set(databases);
      const presentUsers = new Set(users);
      for (const t of tenantsHere.filter((r) => WITH_DATABASE.includes(r.status) && r.step === null)) {
        if (!present.has(t.database_name)) {
          add({
            kind: 'missing_database',
            tenant: t.slug,
            server: serverRow.name,
            message: `${t.status} tenant's database "${t.database_name}" does not exist`,
          });
          continue;
        }
        if (t.database_user && !presentUsers.has(t.database_user)) {
          add({
            kind: 'missing_user',
            tenant: t.slug,
            server: serverRow.name,
            message: `tenant's database user "${t.database_user}" does not exist`,
          });
          continue;
        }
        const suspended = await server.accessSuspended(t.database_name, t.database_user);
        if (t.status === 'suspended' && !suspended && (t.database_user || server.driver.suspendsWithoutUser)) {
          add({
            kind: 'suspended_can_login',
            tenant: t.slug,
            server: serverRow.name,
            message: 'suspended tenant can still reach its database',
            autoFix: true,
          });
        }
        // Locked out, yet its scheduled jobs (MySQL events) still run and write: not suspended either.
        const jobs =
          t.status === 'suspended' && suspended ? await server.scheduledJobs?.enabledJobs(t.database_name) : [];
        if (jobs && jobs.length > 0) {
          add({
            kind: 'suspended_can_login',
            tenant: t.slug,
            server: serverRow.name,
            message: `suspended tenant's scheduled jobs still run: ${jobs.join(', ')}`,
            autoFix: true,
          });
        }
        if (t.status === 'active' && suspended) {
          add({
            kind: 'active_locked_out',
            tenant: t.slug,
            server: serverRow.name,
            message: 'active tenant cannot reach its database (its access is locked)',
          });
        }
      }
      const toolProblem = await server.checkDumpTools(dumpToolsFrom(ctx.config));
      if (toolProblem)
        add({
          kind: 'dump_tool',
          target: { type: 'server', name: serverRow.name },
          tenant: null,
          server: serverRow.name,
          message: toolProblem,
        });
    }

    if (stop()) return;
    // Operations that were interrupted: their tenant lock is free, yet the row says work is under way.
    for (const t of rows.filter(
      (r) =>
        r.status === 'provisioning' ||
        r.status === 'deleting' ||
        (r.step !== null && WITH_DATABASE.includes(r.status) && !isMoving(r)),
    )) {
      const lock = await registry.tryLock(tenantLockName(t.slug), 0);
      if (!lock) continue; // in progress right now
      await lock.release();
      add(interrupted(t));
    }
    // Moves, before their switch or after it (a move killed while it retired the source leaves the
    // tenant's row as if done): their record says running, and no tenantctl holds the tenant.
    for (const finding of await interruptedMoves(ctx, servers)) add(finding);
    // Backups killed mid-dump: a `running` record whose process is gone, and maybe a partial file.
    for (const b of await findInterruptedBackups(ctx)) {
      add({
        kind: 'interrupted_backup',
        tenant: b.slug === REGISTRY_SLUG ? null : b.slug,
        server: null,
        message: `backup #${b.id} started ${b.started_at} was interrupted; its record says running${existsSync(partialFileFor(b.file)) ? ` and ${partialFileFor(b.file)} is left` : ''}`,
        autoFix: true,
      });
      repairs.set(findings.at(-1)!, () => clearInterruptedBackup(ctx, b));
    }
    for (const t of rows.filter((r) => r.status === 'failed')) {
      add({
        kind: 'failed_create',
        tenant: t.slug,
        server: null,
        message: `create failed and was undone: ${t.last_error ?? 'no error recorded'}`,
      });
    }

    if (stop()) return;
    // Passwords: age, interrupted rotations, and a real login (tenants already found broken above are not tried).
    const reported = new Set(findings.map((f) => f.tenant));
    const secrets = await secretFindings(
      ctx,
      rows.filter((r) => !reported.has(r.slug)),
      servers,
      options.passwordMaxAgeHours ?? 365 * 24,
    );
    for (const finding of secrets) add(finding);

    if (stop()) return;
    // Migrations and backups, from the same bulk reads as `stats`.
    const stats = await tenantStats(ctx, {}, {});
    const outcomes = await latestOutcomes(registry.knex, 'migrate');
    const maxAge = (options.backupMaxAgeHours ?? 24) * 3600;
    const ageOf = (iso: string) => (Date.now() - Date.parse(iso)) / 1000;
    for (const s of stats.tenants) {
      if (s.sizeBytes === null) continue; // reported as missing above
      const row = rows.find((r) => r.slug === s.slug)!;
      if (s.error) {
        add({ kind: 'tampered_migrations', tenant: s.slug, server: s.server, message: s.error });
      } else if (outcomes.get(row.id)?.outcome === 'failed') {
        add({
          kind: 'failed_migration',
          tenant: s.slug,
          server: s.server,
          message: `last migration run failed: ${outcomes.get(row.id)!.error ?? ''}`,
        });
      } else if ((s.pendingMigrations ?? 0) > 0) {
        add({
          kind: 'pending_migrations',
          tenant: s.slug,
          server: s.server,
          message: `${s.pendingMigrations} pending migrations`,
        });
      }
      // A tenant younger than the maximum age has no backup due yet: a notice, not a problem.
      if (!s.lastBackup) {
        const young = ageOf(row.created_at) <= maxAge;
        add({
          kind: 'no_backup',
          severity: young ? 'notice' : 'problem',
          tenant: s.slug,
          server: s.server,
          message: young ? 'not backed up yet (first backup due within the maximum age)' : 'never backed up',
        });
      } else if (s.lastBackup.ageSeconds > maxAge) {
        add({
          kind: 'stale_backup',
          tenant: s.slug,
          server: s.server,
          message: `last backup is ${Math.round(s.lastBackup.ageSeconds / 3600)} hours old`,
        });
      }
    }

    const space = await backupSpaceFinding(ctx, stats.tenants);
    if (space) add(space);
  };
  await untilCut(examine(), options.interrupt?.cut, () => undefined);
  const interruptedBy = stoppedBy(options.interrupt);

  // What was read at the start may be stale by now (a create, a move or a delete landed meanwhile):
  // a finding about a tenant whose row changed, or about a database a tenant now lives in, is not one.
  const current = await stillFound(ctx, findings, rows, alike);
  findings.splice(0, findings.length, ...current);

  // Isolation and secrets at rest: who else can reach the registry, and what killed runs left on disk.
  const exposed = await registryExposureFinding(ctx);
  if (exposed) add(exposed);
  const leftover = credentialLeftoverFinding(ctx);
  if (leftover) {
    add(leftover.finding);
    repairs.set(findings.at(-1)!, leftover.repair);
  }

  let fixed = 0;
  // Stopped: nothing is repaired from findings that may be incomplete.
  if (options.fix && !interruptedBy) {
    for (const finding of findings.filter((f) => f.autoFix)) {
      try {
        await (repairs.get(finding) ?? (() => repair(ctx, finding, rows, handles, identities, servers)))();
        finding.fixed = true;
        fixed++;
      } catch (error) {
        finding.fixed = false;
        finding.fixError = errorMessage(error);
      }
    }
  }
  const counting = (f: Finding) => f.severity === 'problem' || Boolean(options.strict);
  return {
    ok: findings.filter(counting).every((f) => f.fixed) && !interruptedBy,
    ...(interruptedBy ? { interrupted: interruptedBy } : {}),
    problems: findings.filter((f) => f.severity === 'problem').length,
    notices: findings.filter((f) => f.severity === 'notice').length,
    findings,
    fixed,
  };
}

/**
 * Whether the backup directory holds another round of backups: every tenant's last dump and the
 * registry's, plus growth. Found before the nightly `backup --all` fills the disk, not by it.
 */
async function backupSpaceFinding(
  ctx: Context,
  tenants: ReadonlyArray<{ lastBackup: { bytes: number | null } | null }>,
): Promise<NewFinding | undefined> {
  const registry = await ctx.registry();
  const registryBackup = await latestGoodBackup(registry.knex, REGISTRY_SLUG);
  const lastDumps = tenants.reduce((sum, t) => sum + (t.lastBackup?.bytes ?? 0), registryBackup?.bytes ?? 0);
  if (lastDumps === 0) return undefined;
  const directory = ctx.config.backupDir;
  const [free, needed] = [await freeBytesAt(directory), nextDumpBytes(lastDumps)];
  if (free === null || free >= needed) return undefined;
  return {
    kind: 'backup_space',
    target: { type: 'directory', path: directory },
    tenant: null,
    server: null,
    message: `only ${formatBytes(free)} free in ${directory}; backing up every tenant again needs about ${formatBytes(needed)} (their last backups, plus 10%)`,
  };
}

/** A finding as the checks write it: severity (by kind), target (the tenant) and autoFix default. */
export type NewFinding = Omit<Finding, 'autoFix' | 'severity' | 'target'> &
  Partial<Pick<Finding, 'autoFix' | 'severity' | 'target'>>;

/** Kinds that are worth knowing but break nothing. */
const NOTICES: FindingKind[] = ['pending_migrations'];

function complete(finding: NewFinding): Finding {
  const target: FindingTarget =
    finding.target ??
    (finding.tenant ? { type: 'tenant', slug: finding.tenant } : { type: 'server', name: finding.server ?? '' });
  return { autoFix: false, severity: NOTICES.includes(finding.kind) ? 'notice' : 'problem', ...finding, target };
}

function interrupted(t: TenantRow): NewFinding {
  if (t.status === 'provisioning') {
    return {
      kind: 'interrupted',
      operation: 'create',
      tenant: t.slug,
      server: null,
      message: `create was interrupted at step "${t.step ?? 'start'}"`,
      autoFix: true,
    };
  }
  if (t.status === 'deleting') {
    return {
      kind: 'interrupted',
      operation: 'delete',
      tenant: t.slug,
      server: null,
      message: `delete was interrupted at step "${t.step ?? 'start'}"`,
      autoFix: true,
    };
  }
  if (t.step === 'suspend')
    return {
      kind: 'interrupted',
      operation: 'suspend',
      tenant: t.slug,
      server: null,
      message: 'suspend was interrupted',
      autoFix: true,
    };
  if (t.step === 'reactivate')
    return {
      kind: 'interrupted',
      operation: 'reactivate',
      tenant: t.slug,
      server: null,
      message: 'reactivate was interrupted',
    };
  return {
    kind: 'interrupted',
    operation: t.step ?? 'unknown',
    tenant: t.slug,
    server: null,
    message: `${t.step} was interrupted; the tenant stays suspended`,
  };
}

async function repair(
  ctx: Context,
  finding: Finding,
  rows: TenantRow[],
  handles: Map<number, ServerHandle>,
  identities: Map<number, string>,
  servers: Array<{ id: number; name: string }>,
): Promise<void> {
  const target = finding.target;
  const row = target.type === 'tenant' ? rows.find((r) => r.slug === target.slug) : undefined;
  switch (finding.kind) {
    case 'suspended_can_login':
      if (row) {
        await suspendTenant(ctx, row.slug, row.status_reason ?? 'suspended');
        // Also what a loan a killed tenantctl left open needs: the account's own password back.
        await restoreOwnPassword(ctx, (await ctx.server(row.server_id)).connection, row);
      }
      return;
    case 'interrupted':
      if (row?.status === 'provisioning') await createTenant(ctx, { slug: row.slug });
      else if (row?.status === 'deleting') await deleteTenant(ctx, row.slug, { backup: true });
      else if (row?.step === 'suspend') await suspendTenant(ctx, row.slug, row.status_reason ?? 'suspended');
      else if (row?.password_pending_enc) await rotateTenantPassword(ctx, row.slug);
      return;
    case 'orphan_database':
    case 'orphan_user': {
      if (target.type !== 'database' && target.type !== 'user') break;
      const handle = handles.get(servers.find((s) => s.name === target.server)!.id)!;
      const { backup } = await dropOrphan(ctx, handle, target, identities);
      if (backup) finding.backup = backup;
      return;
    }
  }
  throw new TenantctlError('not repairable unattended');
}
