import type { StatsResult, TenantStats } from '../../lifecycle/tenants/index.js';

const label = (value: string) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

/** The Prometheus text exposition format, for node_exporter's textfile collector. */
export function toPrometheus(result: StatsResult): string {
  const metrics: Array<[string, string, (t: TenantStats) => number | null]> = [
    ['tenantctl_tenant_database_size_bytes', 'Size of the tenant database in bytes.', (t) => t.sizeBytes],
    ['tenantctl_tenant_tables', 'Tables in the tenant database.', (t) => t.tables],
    ['tenantctl_tenant_rows', 'Rows in the tenant database (estimated unless counted).', (t) => t.rows],
    [
      'tenantctl_tenant_pending_migrations',
      'Migrations not yet applied to the tenant database.',
      (t) => t.pendingMigrations,
    ],
    ['tenantctl_tenant_connections', 'Open connections to the tenant database.', (t) => t.connections],
    [
      'tenantctl_tenant_last_backup_timestamp_seconds',
      'When the last good backup was taken (Unix time).',
      (t) => (t.lastBackup ? Math.floor(Date.parse(t.lastBackup.at) / 1000) : null),
    ],
  ];
  const lines: string[] = [];
  for (const [name, help, pick] of metrics) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const t of result.tenants) {
      const value = pick(t);
      if (value !== null)
        lines.push(`${name}{tenant="${label(t.slug)}",server="${label(t.server)}",status="${t.status}"} ${value}`);
    }
  }
  const byStatus = new Map<string, number>();
  for (const t of result.tenants) byStatus.set(t.status, (byStatus.get(t.status) ?? 0) + 1);
  lines.push('# HELP tenantctl_tenants Tenants by status.', '# TYPE tenantctl_tenants gauge');
  for (const [status, count] of byStatus) lines.push(`tenantctl_tenants{status="${status}"} ${count}`);
  lines.push(
    '# HELP tenantctl_server_unreachable Servers that did not answer when these statistics were gathered.',
    '# TYPE tenantctl_server_unreachable gauge',
  );
  for (const o of result.unreachableServers)
    lines.push(`tenantctl_server_unreachable{server="${label(o.server)}",address="${label(o.address)}"} 1`);
  lines.push(
    '# HELP tenantctl_tenant_migration_table_tampered Tenants whose migration table is not a plain table (not read).',
    '# TYPE tenantctl_tenant_migration_table_tampered gauge',
  );
  for (const t of result.tenants.filter((x) => x.error && !x.missingPrivilege))
    lines.push(
      `tenantctl_tenant_migration_table_tampered{tenant="${label(t.slug)}",server="${label(t.server)}",status="${t.status}"} 1`,
    );
  lines.push(
    '# HELP tenantctl_stats_generated_timestamp_seconds When these statistics were gathered.',
    '# TYPE tenantctl_stats_generated_timestamp_seconds gauge',
  );
  lines.push(`tenantctl_stats_generated_timestamp_seconds ${Math.floor(Date.parse(result.generatedAt) / 1000)}`);
  return `${lines.join('\n')}\n`;
}
