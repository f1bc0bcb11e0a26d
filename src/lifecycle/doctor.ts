import type { AppContext } from '../context/app-context.js';
import { errorMessage } from '../core/errors.js';
import { listServerRows } from '../registry/servers-repo.js';
import { latestOutcomes } from '../registry/runs-repo.js';
import { listTenantRows, type TenantRow } from '../registry/tenants-repo.js';
import { dumpTools } from './backup-tenants.js';
import { createTenant } from './create-tenant.js';
import { deleteTenant } from './delete-tenant.js';
import { WITH_DATABASE } from './select-tenants.js';
import { suspendTenant } from './suspend-tenant.js';
import { tenantStats } from './tenant-stats.js';
import { databasesHeldByMoves } from '../registry/moves-repo.js';

export type FindingKind =
  | 'orphan_database'
  | 'orphan_user'
  | 'missing_database'
  | 'missing_user'
  | 'suspended_can_login'
  | 'active_locked_out'
  | 'interrupted'
  | 'failed_create'
  | 'pending_migrations'
  | 'failed_migration'
  | 'no_backup'
  | 'stale_backup'
  | 'dump_tool'
  | 'server_unreachable';

export interface Finding {
  kind: FindingKind;
  tenant: string | null;
  server: string | null;
  message: string;
  /** The command that fixes it. */
  fix: string;
  /** Whether `doctor --fix` repairs it (orphans only with --drop-orphans). */
  autoFix: boolean;
  /** Set by --fix: whether the repair worked, and why not. */
  fixed?: boolean;
  fixError?: string;
}

export interface DoctorOptions {
  /** A backup older than this is a finding. Default 24 hours. */
  backupMaxAgeHours?: number;
  /** Repair what is safe to repair unattended. */
  fix?: boolean;
  /** With fix: also drop orphan databases and users (the CLI asks first). */
  dropOrphans?: boolean;
}

export interface DoctorResult {
  /** No finding left unrepaired. */
  ok: boolean;
  findings: Finding[];
  fixed: number;
}

/** Names a naming template can produce: `tenant_{slug}` → /^tenant_[a-z][a-z0-9_]*$/. */
function templatePattern(template: string): RegExp {
  const [before, after] = template.split('{slug}').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${before}[a-z][a-z0-9_]*${after ?? ''}$`);
}

/** Compares the registry with the servers and this machine; repairs what is safe with `fix`. */
export async function runDoctor(ctx: AppContext, options: DoctorOptions = {}): Promise<DoctorResult> {
  const registry = await ctx.registry();
  const rows = await listTenantRows(registry.knex);
  const findings: Finding[] = [];
  const add = (finding: Omit<Finding, 'autoFix'> & { autoFix?: boolean }) => findings.push({ autoFix: false, ...finding });
  const servers = await listServerRows(registry.knex);
  const movedHere = await databasesHeldByMoves(registry.knex);

  // Per server: orphans, missing databases and users, access that does not match the status, tools.
  for (const serverRow of servers) {
    const tenantsHere = rows.filter((r) => r.server_id === serverRow.id);
    let handle;
    try {
      handle = await ctx.server(serverRow.id);
      await handle.version();
    } catch (error) {
      // The other servers are still checked; this one's tenants are not judged from here.
      const live = tenantsHere.filter((r) => r.status !== 'deleted').length;
      add({ kind: 'server_unreachable', tenant: null, server: serverRow.name, message: `${errorMessage(error)}; ${live} tenant${live === 1 ? '' : 's'} not checked`, fix: `check the server, its address and credentials (tenantctl server show ${serverRow.name}; tenantctl server update ${serverRow.name} --url …)` });
      continue;
    }
    const server = handle.connection;
    const [databases, users] = await Promise.all([server.listDatabases(), server.listUsers()]);
    const known = new Set(tenantsHere.filter((r) => r.status !== 'deleted').flatMap((r) => [r.database_name]));
    const knownUsers = new Set(tenantsHere.filter((r) => r.status !== 'deleted' && r.database_user).map((r) => r.database_user!));
    for (const held of movedHere.filter((h) => h.serverId === serverRow.id)) {
      known.add(held.database);
      if (held.user) knownUsers.add(held.user);
    }
    const dbPattern = templatePattern(ctx.config.databaseNameTemplate);
    const userPattern = templatePattern(ctx.config.userNameTemplate);
    for (const db of databases.filter((d) => dbPattern.test(d) && !known.has(d))) {
      add({ kind: 'orphan_database', tenant: null, server: serverRow.name, message: `database "${db}" follows the naming template but belongs to no tenant`, fix: `tenantctl doctor --fix --drop-orphans  (or adopt it: restore a backup into a new tenant)`, autoFix: Boolean(options.dropOrphans) });
    }
    for (const user of users.filter((u) => userPattern.test(u) && !knownUsers.has(u))) {
      add({ kind: 'orphan_user', tenant: null, server: serverRow.name, message: `database user "${user}" follows the naming template but belongs to no tenant`, fix: 'tenantctl doctor --fix --drop-orphans', autoFix: Boolean(options.dropOrphans) });
    }
    const present = new Set(databases);
    const presentUsers = new Set(users);
    for (const t of tenantsHere.filter((r) => WITH_DATABASE.includes(r.status) && r.step === null)) {
      if (!present.has(t.database_name)) {
        add({ kind: 'missing_database', tenant: t.slug, server: serverRow.name, message: `${t.status} tenant's database "${t.database_name}" does not exist`, fix: `tenantctl restore ${t.slug} --force  (or: tenantctl delete ${t.slug} --yes --no-backup)` });
        continue;
      }
      if (t.database_user && !presentUsers.has(t.database_user)) {
        add({ kind: 'missing_user', tenant: t.slug, server: serverRow.name, message: `tenant's database user "${t.database_user}" does not exist`, fix: `tenantctl restore ${t.slug} --force --as ${t.slug}-restored  (then move the application)` });
        continue;
      }
      const suspended = await server.accessSuspended(t.database_name, t.database_user);
      if (t.status === 'suspended' && !suspended && (t.database_user || server.driver.engine === 'sqlite')) {
        add({ kind: 'suspended_can_login', tenant: t.slug, server: serverRow.name, message: 'suspended tenant can still reach its database', fix: `tenantctl suspend ${t.slug}`, autoFix: true });
      }
      if (t.status === 'active' && suspended) {
        add({ kind: 'active_locked_out', tenant: t.slug, server: serverRow.name, message: 'active tenant cannot reach its database (its access is locked)', fix: `tenantctl reactivate ${t.slug}` });
      }
    }
    const toolProblem = await server.checkDumpTools(dumpTools(ctx.config));
    if (toolProblem) add({ kind: 'dump_tool', tenant: null, server: serverRow.name, message: toolProblem, fix: toolProblem.replace(/^.*install /, 'install ') });
  }

  // Operations that were interrupted: their tenant lock is free, yet the row says work is under way.
  for (const t of rows.filter((r) => r.status === 'provisioning' || r.status === 'deleting' || (r.step !== null && WITH_DATABASE.includes(r.status)))) {
    const lock = await registry.tryLock(`tenantctl:tenant:${t.slug}`, 0);
    if (!lock) continue; // in progress right now
    await lock.release();
    add(interrupted(t));
  }
  for (const t of rows.filter((r) => r.status === 'failed')) {
    add({ kind: 'failed_create', tenant: t.slug, server: null, message: `create failed and was undone: ${t.last_error ?? 'no error recorded'}`, fix: `tenantctl create ${t.slug}  (retry)  or  tenantctl delete ${t.slug} --yes` });
  }

  // Migrations and backups, from the same bulk reads as `stats`.
  const stats = await tenantStats(ctx, {}, {});
  const outcomes = await latestOutcomes(registry.knex, 'migrate');
  const maxAge = (options.backupMaxAgeHours ?? 24) * 3600;
  for (const s of stats.tenants) {
    if (s.sizeBytes === null) continue; // reported as missing above
    const row = rows.find((r) => r.slug === s.slug)!;
    if (outcomes.get(row.id)?.outcome === 'failed') {
      add({ kind: 'failed_migration', tenant: s.slug, server: s.server, message: `last migration run failed: ${outcomes.get(row.id)!.error ?? ''}`, fix: 'tenantctl migrate-all --retry-failed' });
    } else if ((s.pendingMigrations ?? 0) > 0) {
      add({ kind: 'pending_migrations', tenant: s.slug, server: s.server, message: `${s.pendingMigrations} pending migrations`, fix: 'tenantctl migrate-all' });
    }
    if (!s.lastBackup) add({ kind: 'no_backup', tenant: s.slug, server: s.server, message: 'never backed up', fix: `tenantctl backup ${s.slug}` });
    else if (s.lastBackup.ageSeconds > maxAge) {
      add({ kind: 'stale_backup', tenant: s.slug, server: s.server, message: `last backup is ${Math.round(s.lastBackup.ageSeconds / 3600)} hours old`, fix: `tenantctl backup ${s.slug}` });
    }
  }

  let fixed = 0;
  if (options.fix) {
    for (const finding of findings.filter((f) => f.autoFix)) {
      try {
        await repair(ctx, finding, rows, servers);
        finding.fixed = true;
        fixed++;
      } catch (error) {
        finding.fixed = false;
        finding.fixError = errorMessage(error);
      }
    }
  }
  return { ok: findings.every((f) => f.fixed), findings, fixed };
}

function interrupted(t: TenantRow): Omit<Finding, 'autoFix'> & { autoFix?: boolean } {
  if (t.status === 'provisioning') {
    return { kind: 'interrupted', tenant: t.slug, server: null, message: `create was interrupted at step "${t.step ?? 'start'}"`, fix: `tenantctl create ${t.slug}  (finishes it)  or  tenantctl delete ${t.slug} --yes`, autoFix: true };
  }
  if (t.status === 'deleting') {
    return { kind: 'interrupted', tenant: t.slug, server: null, message: `delete was interrupted at step "${t.step ?? 'start'}"`, fix: `tenantctl delete ${t.slug} --yes  (finishes it)`, autoFix: true };
  }
  if (t.step === 'suspend') return { kind: 'interrupted', tenant: t.slug, server: null, message: 'suspend was interrupted', fix: `tenantctl suspend ${t.slug}`, autoFix: true };
  if (t.step === 'reactivate') return { kind: 'interrupted', tenant: t.slug, server: null, message: 'reactivate was interrupted', fix: `tenantctl reactivate ${t.slug}` };
  return { kind: 'interrupted', tenant: t.slug, server: null, message: `${t.step} was interrupted; the tenant stays suspended`, fix: `tenantctl restore ${t.slug} --force` };
}

async function repair(ctx: AppContext, finding: Finding, rows: TenantRow[], servers: Array<{ id: number; name: string }>): Promise<void> {
  const row = rows.find((r) => r.slug === finding.tenant);
  switch (finding.kind) {
    case 'suspended_can_login':
      await suspendTenant(ctx, finding.tenant!, row?.status_reason ?? 'suspended');
      return;
    case 'interrupted':
      if (row?.status === 'provisioning') await createTenant(ctx, { slug: row.slug });
      else if (row?.status === 'deleting') await deleteTenant(ctx, row.slug, { backup: true });
      else if (row?.step === 'suspend') await suspendTenant(ctx, row.slug, row.status_reason ?? 'suspended');
      return;
    case 'orphan_database':
    case 'orphan_user': {
      const server = (await ctx.server(servers.find((s) => s.name === finding.server)!.id)).connection;
      const name = /"([^"]+)"/.exec(finding.message)![1]!;
      if (finding.kind === 'orphan_database') await server.dropDatabase(name);
      else await server.dropUser(name);
      return;
    }
    default:
      throw new Error('not repairable unattended');
  }
}
