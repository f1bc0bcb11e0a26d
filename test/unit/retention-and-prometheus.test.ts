import { describe, expect, it } from 'vitest';
import { toPrometheus } from '../../src/cli/render/prometheus.js';
import type { StatsResult, TenantStats } from '../../src/lifecycle/tenants/tenant-stats.js';
import { retentionPlan } from '../../src/lifecycle/backups/retention-plan.js';

describe('retentionPlan', () => {
  const at = new Date('2026-03-31T12:00:00.000Z');
  const daysAgo = (days: number) => new Date(at.getTime() - days * 86_400_000).toISOString();
  // Newest first, as the registry lists them: ids 6..1, one per day.
  const backups = [
    { id: 6, status: 'ok', started_at: daysAgo(0) },
    { id: 5, status: 'failed', started_at: daysAgo(1) },
    { id: 4, status: 'ok', started_at: daysAgo(2) },
    { id: 3, status: 'ok', started_at: daysAgo(3) },
    { id: 2, status: 'failed', started_at: daysAgo(4) },
    { id: 1, status: 'ok', started_at: daysAgo(5) },
  ];
  const ids = (plan: { doomed: Array<{ id: number }>; staleFailures: Array<{ id: number }> }) => ({
    doomed: plan.doomed.map((b) => b.id),
    staleFailures: plan.staleFailures.map((b) => b.id),
  });

  it('removes nothing without a rule', () => {
    expect(ids(retentionPlan(backups, {}, at))).toEqual({ doomed: [], staleFailures: [] });
  });

  it('keeps the newest N good backups', () => {
    expect(ids(retentionPlan(backups, { keep: 2 }, at))).toEqual({ doomed: [3, 1], staleFailures: [5, 2] });
  });

  it('keeps good backups younger than D days; exactly D days old stays', () => {
    expect(ids(retentionPlan(backups, { keepDays: 3 }, at)).doomed).toEqual([1]);
    expect(ids(retentionPlan(backups, { keepDays: 2 }, at)).doomed).toEqual([3, 1]);
  });

  it('with both rules, removes only what both let go', () => {
    expect(ids(retentionPlan(backups, { keep: 3, keepDays: 1 }, at)).doomed).toEqual([1]);
    expect(ids(retentionPlan(backups, { keep: 1, keepDays: 4 }, at)).doomed).toEqual([1]);
  });

  it('always keeps the newest good backup, however old', () => {
    const old = [{ id: 1, status: 'ok', started_at: daysAgo(400) }];
    expect(ids(retentionPlan(old, { keep: 1, keepDays: 1 }, at)).doomed).toEqual([]);
  });

  it('keeps failed records newer than the newest good backup, and all of them when none is good', () => {
    const failing = [
      { id: 3, status: 'failed', started_at: daysAgo(0) },
      { id: 2, status: 'ok', started_at: daysAgo(1) },
      { id: 1, status: 'failed', started_at: daysAgo(2) },
    ];
    expect(ids(retentionPlan(failing, { keep: 1 }, at)).staleFailures).toEqual([1]);
    expect(ids(retentionPlan([{ id: 1, status: 'failed', started_at: daysAgo(9) }], { keep: 1 }, at))).toEqual({
      doomed: [],
      staleFailures: [],
    });
  });
});

describe('toPrometheus', () => {
  const tenant = (over: Partial<TenantStats>): TenantStats => ({
    slug: 'acme',
    status: 'active',
    server: 'pg-main',
    engine: 'postgres',
    database: 'tenant_acme',
    sizeBytes: 1024,
    tables: null,
    rows: null,
    rowsExact: false,
    migration: '001_a.js',
    pendingMigrations: 0,
    connections: 2,
    lastActivity: null,
    lastBackup: null,
    reachable: true,
    ...over,
  });
  const result = (tenants: TenantStats[]): StatsResult => ({
    generatedAt: '2026-03-31T12:00:00.000Z',
    tenants,
    largest: [],
    unreachableServers: [],
    totals: {
      tenants: tenants.length,
      sizeBytes: 0,
      tables: 0,
      rows: 0,
      connections: 0,
      withPendingMigrations: 0,
      withoutBackup: 0,
      tampered: 0,
      denied: 0,
    },
  });

  it('escapes backslashes, quotes and newlines in label values', () => {
    const text = toPrometheus(result([tenant({ server: 'a"b\\c\nd' })]));
    expect(text).toContain(
      'tenantctl_tenant_database_size_bytes{tenant="acme",server="a\\"b\\\\c\\nd",status="active"} 1024',
    );
    for (const line of text.trim().split('\n')) expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+(\{[^\n]*\})? -?\d+)$/);
  });

  it('leaves out a metric where the value is unknown, rather than writing 0', () => {
    const text = toPrometheus(result([tenant({ tables: null, rows: null })]));
    expect(text).not.toMatch(/^tenantctl_tenant_tables\{/m);
    expect(text).not.toMatch(/^tenantctl_tenant_rows\{/m);
    expect(text).toMatch(/^tenantctl_tenant_connections\{tenant="acme",server="pg-main",status="active"\} 2$/m);
  });

  it('writes the last backup as Unix seconds, and counts tenants by status', () => {
    const text = toPrometheus(
      result([
        tenant({ lastBackup: { at: '2026-03-31T11:00:00.000Z', ageSeconds: 3600, bytes: 1, file: 'x' } }),
        tenant({ slug: 'beta', status: 'suspended' }),
      ]),
    );
    expect(text).toMatch(/^tenantctl_tenant_last_backup_timestamp_seconds\{tenant="acme",[^}]*\} 1774954800$/m);
    expect(text).toMatch(/^tenantctl_tenants\{status="active"\} 1$/m);
    expect(text).toMatch(/^tenantctl_tenants\{status="suspended"\} 1$/m);
    expect(text).toMatch(/^tenantctl_stats_generated_timestamp_seconds 1774958400$/m);
  });
});
