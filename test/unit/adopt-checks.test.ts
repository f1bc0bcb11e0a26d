import { describe, expect, it } from 'vitest';
import { fixCommand } from '../../src/cli/render/doctor-fixes.js';
import { scramSha256Verifier, verifierMatches } from '../../src/engines/postgres-scram.js';
import type { Finding } from '../../src/lifecycle/doctor/doctor.js';
import type { Context } from '../../src/context/context.js';
import { isTenantctlDatabase } from '../../src/lifecycle/tenants/adopt-tenant.js';

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

describe('adopt: the password checked against the stored verifier', () => {
  it('accepts the password a SCRAM verifier or md5 hash was made from, and no other', () => {
    const stored = scramSha256Verifier('s3cret-pw');
    expect(verifierMatches(stored, 'app', 's3cret-pw')).toBe(true);
    expect(verifierMatches(stored, 'app', 's3cret-px')).toBe(false);
    // md5 of password + user, as PostgreSQL before SCRAM stored it.
    expect(verifierMatches('md581ad3d00fcdf98fbc5f8f9a859590b46', 'app', 'pw')).toBe(true);
    expect(verifierMatches('md581ad3d00fcdf98fbc5f8f9a859590b46', 'app', 'px')).toBe(false);
    expect(verifierMatches('not a verifier', 'app', 'x')).toBeNull();
  });
});

describe('doctor fix commands for adoption', () => {
  it('resumes an interrupted adopt with adopt, never with create or restore', () => {
    expect(fixCommand(finding({ operation: 'adopt' }))).toBe('tenantctl adopt acme  (resumes it where it stopped)');
  });

  it('adopts an unregistered database back with its own user, or a new one where it has none', () => {
    const target = { type: 'database' as const, server: 'db1', name: 'tenant_acme' };
    const base = { kind: 'unregistered_database' as const, tenant: null, target };
    expect(fixCommand(finding({ ...base, adopt: { slug: 'acme', user: 'tenant_acme', createUser: false } }))).toBe(
      'tenantctl adopt acme --server db1 --database tenant_acme --user tenant_acme --password-stdin',
    );
    expect(fixCommand(finding({ ...base, adopt: { slug: 'acme', user: null, createUser: true } }))).toBe(
      'tenantctl adopt acme --server db1 --database tenant_acme --create-user',
    );
    expect(fixCommand(finding({ ...base, adopt: { slug: 'acme', user: null, createUser: false } }))).toBe(
      'tenantctl adopt acme --server db1 --database tenant_acme',
    );
  });
});

describe("adopt never takes tenantctl's own databases", () => {
  const ctx = (registryUrl: string) => ({ config: { registryUrl } }) as unknown as Context;
  it('refuses scratch, verify and mark databases, and the registry where it lives on a server', () => {
    const embedded = ctx('sqlite:/srv/app/.tenantctl/registry.db');
    for (const name of ['tenantctl_scratch_1a2b', 'tenantctl_identity', 'tenantctl'])
      expect(isTenantctlDatabase(embedded, name)).toBe(true);
    expect(isTenantctlDatabase(embedded, 'finvera_acme')).toBe(false);
    const onServer = ctx('postgres://admin@db1:5432/fleet_registry');
    expect(isTenantctlDatabase(onServer, 'fleet_registry')).toBe(true);
    expect(isTenantctlDatabase(onServer, 'fleet_acme')).toBe(false);
  });
});
