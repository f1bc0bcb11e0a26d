/** `doctor <slug>`'s summary: one tenant's health check by check, from its findings and two reads of its own. */
import type { Context } from '../../context/context.js';
import { latestGoodBackup } from '../../registry/backups-repo.js';
import type { TenantRow } from '../../registry/tenants-repo.js';
import { tenantLockName } from '../shared/tenant-lock.js';
import type { FleetView } from './fleet-view.js';
import type { Finding, FindingKind } from './findings.js';

export type HealthCheckName = 'reachable' | 'database' | 'login' | 'migrations' | 'backup' | 'lock' | 'interrupted';

/** `ok`; `problem` / `notice` as the worst finding of the check; `skipped`: not asked (and why, in detail). */
export interface HealthCheck {
  check: HealthCheckName;
  status: 'ok' | 'problem' | 'notice' | 'skipped';
  detail: string;
}

export interface TenantHealth {
  slug: string;
  status: string;
  server: string | null;
  checks: HealthCheck[];
  /** The latest good backup, or null: never backed up. */
  lastBackup: { at: string; ageSeconds: number } | null;
  /** Whether another tenantctl holds the tenant's lock right now (an operation under way). */
  locked: boolean;
}

/** What the summary reads besides the findings: the lock and the latest backup. */
export interface HealthProbe {
  row: TenantRow;
  locked: boolean;
  lastBackupAt: string | null;
}

export async function probeTenant(ctx: Context, row: TenantRow): Promise<HealthProbe> {
  const registry = await ctx.registry();
  const lock = await registry.tryLock(tenantLockName(row.slug), 0);
  if (lock) await lock.release();
  const backup = await latestGoodBackup(registry.knex, row.slug);
  return { row, locked: !lock, lastBackupAt: backup?.started_at ?? null };
}

/** Which findings answer which check. */
const CHECK_KINDS: Array<[HealthCheckName, FindingKind[]]> = [
  ['reachable', ['server_unreachable', 'server_identity']],
  ['database', ['missing_database', 'missing_user', 'unmarked_database', 'suspended_can_login', 'active_locked_out']],
  ['login', ['password_login_fails', 'stale_password']],
  ['migrations', ['pending_migrations', 'failed_migration', 'tampered_migrations']],
  ['backup', ['no_backup', 'stale_backup', 'interrupted_backup']],
  ['interrupted', ['interrupted', 'failed_create']],
];

export function tenantHealth(probe: HealthProbe, fleet: FleetView, findings: readonly Finding[]): TenantHealth {
  const { row } = probe;
  const server = fleet.servers[0]?.name ?? null;
  const unreachable = findings.some((f) => f.kind === 'server_unreachable' || f.kind === 'server_identity');
  const ageSeconds = probe.lastBackupAt
    ? Math.max(0, Math.round((Date.now() - Date.parse(probe.lastBackupAt)) / 1000))
    : null;
  const checks: HealthCheck[] = CHECK_KINDS.map(([check, kinds]) => {
    const found = findings.filter((f) => kinds.includes(f.kind) && !f.fixed);
    const worst = found.find((f) => f.severity === 'problem') ?? found.find((f) => f.severity === 'notice');
    if (worst)
      return { check, status: worst.severity as 'problem' | 'notice', detail: found.map((f) => f.message).join('; ') };
    if (unreachable && ['database', 'login', 'migrations'].includes(check))
      return { check, status: 'skipped', detail: 'its server was not reached' };
    return { check, status: 'ok', detail: okDetail(check, row, ageSeconds) };
  });
  checks.splice(checks.length - 1, 0, {
    check: 'lock',
    status: probe.locked ? 'notice' : 'ok',
    detail: probe.locked ? 'another tenantctl is working on this tenant right now' : 'free',
  });
  const login = checks.find((c) => c.check === 'login')!;
  if (login.status === 'ok' && !(row.database_user && row.password_enc))
    Object.assign(login, { status: 'skipped', detail: 'no user of its own (SQLite, or tenantUsers: false)' });
  else if (login.status === 'ok' && row.status !== 'active')
    Object.assign(login, { status: 'skipped', detail: `${row.status}: cannot log in by design` });
  return {
    slug: row.slug,
    status: row.status,
    server,
    checks,
    lastBackup: probe.lastBackupAt ? { at: probe.lastBackupAt, ageSeconds: ageSeconds! } : null,
    locked: probe.locked,
  };
}

function okDetail(check: HealthCheckName, row: TenantRow, backupAgeSeconds: number | null): string {
  switch (check) {
    case 'reachable':
      return 'its server answered';
    case 'database':
      return `database "${row.database_name}" present, access matches its status`;
    case 'login':
      return 'logged in with the stored password';
    case 'migrations':
      return 'all migrations applied';
    case 'backup':
      return backupAgeSeconds === null ? 'none yet' : `last backup ${Math.round(backupAgeSeconds / 3600)} hours ago`;
    default:
      return 'none';
  }
}
