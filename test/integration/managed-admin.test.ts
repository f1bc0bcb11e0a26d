import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SERVER_URLS } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

// Managed PostgreSQL (RDS, Cloud SQL, Azure) gives no superuser: the admin has CREATEDB and
// CREATEROLE only. Every routine command must work with such an admin.
describe.skipIf(!reachable.includes('postgres'))('an admin that is not a superuser (managed PostgreSQL)', () => {
  const adminName = `managed${randomBytes(3).toString('hex')}`;
  const superuser = knexFactory({ client: 'pg', connection: SERVER_URLS.postgres });
  let ws: Workspace;
  beforeAll(async () => {
    await superuser.raw(`create role "${adminName}" login createdb createrole`);
    const url = new URL(SERVER_URLS.postgres);
    url.username = adminName;
    ws = new Workspace('postgres', { env: { TENANTCTL_SERVER_URL: undefined } });
    const added = await ws.run(['server', 'add', 'managed', '--url', url.toString()]);
    expect(added.code, added.stderr).toBe(0);
  });
  afterAll(async () => {
    await ws.cleanup();
    await superuser.raw(`drop owned by "${adminName}"`).catch(() => undefined);
    await superuser.raw(`drop role if exists "${adminName}"`);
    await superuser.destroy();
  });

  it('creates, suspends, reactivates, backs up, restores and deletes a tenant, the tenant owning its database', async () => {
    const slug = ws.slug();
    const { database, user } = ws.names(slug);
    const created = await ws.run(['create', slug]);
    expect(created.code, created.stderr).toBe(0);
    const owner = await superuser.raw(
      'select pg_catalog.pg_get_userbyid(datdba) as owner from pg_catalog.pg_database where datname = ?',
      [database],
    );
    expect(owner.rows[0].owner).toBe(user);
    // The tenant got nothing of the admin's: not a member of any role.
    const memberOf = await superuser.raw(
      'select count(*)::int as n from pg_catalog.pg_auth_members m join pg_catalog.pg_roles r on r.oid = m.member where r.rolname = ?',
      [user],
    );
    expect(memberOf.rows[0].n).toBe(0);

    for (const args of [
      ['suspend', slug],
      ['reactivate', slug],
      ['backup', slug],
      ['migrate-all'],
      ['stats', slug],
      ['rotate-password', slug],
      ['url', slug],
    ]) {
      const result = await ws.run(args);
      expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(0);
    }
    // doctor reads the catalog with this admin: no privilege it lacks, nothing wrong with the tenant.
    const doctor = await ws.json(['doctor']);
    expect(doctor.result.code, doctor.result.stderr).toBeLessThanOrEqual(1);
    const findings = doctor.data.findings as Array<{ kind: string; tenant: string | null; severity: string }>;
    expect(findings.filter((f) => f.kind === 'admin_privilege' || f.tenant === slug)).toEqual([]);
    const restored = await ws.run(['restore', slug, '--latest', '--force']);
    expect(restored.code, restored.stderr).toBe(0);
    const deleted = await ws.run(['delete', slug, '--yes']);
    expect(deleted.code, deleted.stderr).toBe(0);
    const left = await superuser.raw(
      'select (select count(*)::int from pg_catalog.pg_database where datname = ?) as dbs, (select count(*)::int from pg_catalog.pg_roles where rolname = ?) as roles',
      [database, user],
    );
    expect(left.rows[0]).toEqual({ dbs: 0, roles: 0 });
  }, 120_000);
});
