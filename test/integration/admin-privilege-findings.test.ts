import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Workspace } from '../helpers/workspace.js';
import { canRunOwnMariadb, startOwnMariadb, type OwnMariadb } from '../helpers/own-mariadb.js';

// A MariaDB of this file's own (its ports): its admin loses a privilege after registering, which
// must never be done to the shared servers.
const PORTS = [3376, 3377, 3378, 3379];

describe.runIf(canRunOwnMariadb())('an admin lacking a privilege: doctor and stats report it, never crash', () => {
  let server: OwnMariadb;
  let ws: Workspace;
  let slug: string;

  beforeAll(async () => {
    server = await startOwnMariadb({ ports: PORTS });
    const root = server.root();
    try {
      await root.raw("create user 'weakadmin'@'%' identified by 'weak-pw'");
      await root.raw("grant all privileges on *.* to 'weakadmin'@'%' with grant option");
    } finally {
      await root.destroy();
    }
    ws = new Workspace('mysql', { env: { TENANTCTL_SERVER_URL: undefined } });
    const added = await ws.run(['server', 'add', 'weak', '--url', `mysql://weakadmin@127.0.0.1:${server.port}/`], {
      TENANTCTL_SERVER_PASSWORD: 'weak-pw',
    });
    expect(added.code, added.stderr).toBe(0);
    slug = ws.slug();
    const created = await ws.run(['create', slug, '--server', 'weak']);
    expect(created.code, created.stderr).toBe(0);
    // Afterwards someone takes global reads away (its own server mark it may still read).
    const root2 = server.root();
    try {
      await root2.raw("revoke select on *.* from 'weakadmin'@'%'");
      await root2.raw("grant select, insert, create on tenantctl_identity.* to 'weakadmin'@'%'");
    } finally {
      await root2.destroy();
    }
  }, 120_000);
  afterAll(async () => {
    await ws.probe.close();
    rmSync(ws.dir, { recursive: true, force: true });
    await server.stop();
  });

  it('doctor: an admin_privilege finding on the server, naming what is missing (exit 1, not a crash)', async () => {
    const { result, data } = await ws.json(['doctor']);
    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).not.toMatch(/please report it/);
    const finding = data.findings.find((f: { kind: string }) => f.kind === 'admin_privilege');
    expect(finding).toMatchObject({ severity: 'problem', server: 'weak', target: { type: 'server', name: 'weak' } });
    expect(finding.message).toMatch(
      /the admin of server "weak" lacks a privilege doctor needs: SELECT on `mysql`\.`user`/,
    );
  }, 60_000);

  it("stats: each tenant's outcome names the missing privilege (exit 1, not a crash)", async () => {
    const { result, data } = await ws.json(['stats']);
    expect(result.code, result.stderr).toBe(1);
    const row = data.tenants.find((t: { slug: string }) => t.slug === slug);
    expect(row.missingPrivilege).toMatch(/^SELECT on `tenant_/);
    expect(row.error).toMatch(/lacks a privilege stats needs: SELECT on/);
    expect(data.totals).toMatchObject({ denied: 1, tampered: 0 });
    const human = await ws.run(['stats']);
    expect(human.code).toBe(1);
    expect(human.stderr + human.stdout).toMatch(/lacks a privilege stats needs/);
    expect(human.stderr).not.toMatch(/please report it/);
  }, 60_000);
});
