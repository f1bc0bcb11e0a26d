import { describe, expect, it } from 'vitest';
import { fixCommand, withFixCommands } from '../../src/cli/render/doctor-fixes.js';
import type { Finding } from '../../src/lifecycle/doctor/doctor.js';

const finding = (over: Partial<Finding>): Finding => ({
  kind: 'interrupted',
  severity: 'problem',
  target: { type: 'tenant', slug: 'acme' },
  tenant: 'acme',
  server: 'db1',
  message: '',
  autoFix: false,
  ...over,
});

describe('doctor fix commands', () => {
  it('finishes an interrupted operation with the command that was cut short', () => {
    expect(fixCommand(finding({ operation: 'create' }))).toMatch(/^tenantctl create acme /);
    expect(fixCommand(finding({ operation: 'delete' }))).toMatch(/^tenantctl delete acme --yes/);
    expect(fixCommand(finding({ operation: 'suspend' }))).toBe('tenantctl suspend acme');
    expect(fixCommand(finding({ operation: 'rotate-password' }))).toMatch(/^tenantctl rotate-password acme /);
    expect(fixCommand(finding({ operation: 'restore' }))).toBe('tenantctl restore acme --force');
  });

  it('names the server of an unreachable server and the registry for its interrupted backup', () => {
    expect(
      fixCommand(finding({ kind: 'server_unreachable', tenant: null, target: { type: 'server', name: 'db2' } })),
    ).toContain('tenantctl server show db2');
    expect(
      fixCommand(finding({ kind: 'interrupted_backup', tenant: null, target: { type: 'server', name: '' } })),
    ).toContain('tenantctl backup --registry');
    expect(fixCommand(finding({ kind: 'interrupted_backup' }))).toContain('tenantctl backup acme');
  });

  it('points a backup directory short of space at the directory and at retention', () => {
    const fix = fixCommand(
      finding({
        kind: 'backup_space',
        tenant: null,
        server: null,
        target: { type: 'directory', path: '/srv/backups' },
      }),
    );
    expect(fix).toContain('/srv/backups');
    expect(fix).toContain('tenantctl backup --all --keep-days');
  });

  it("takes a dump tool's install advice from the driver's message", () => {
    const message =
      'pg_dump is version 13, older than the PostgreSQL 15 server: install postgresql-client-15 (or newer)';
    expect(fixCommand(finding({ kind: 'dump_tool', message }))).toBe('install postgresql-client-15 (or newer)');
  });

  it('adds the command to every finding for --json, leaving the rest as it was', () => {
    const result = withFixCommands({ ok: false, findings: [finding({ kind: 'stale_backup' })] });
    expect(result.ok).toBe(false);
    expect(result.findings[0]).toMatchObject({ kind: 'stale_backup', tenant: 'acme', fix: 'tenantctl backup acme' });
  });
});
