import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

interface Check {
  check: string;
  status: string;
  detail: string;
}

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`doctor <slug> on ${engine}`, () => {
    let ws: Workspace;
    let healthy: string;
    let broken: string;
    beforeAll(async () => {
      ws = new Workspace(engine);
      healthy = ws.slug('dy');
      broken = ws.slug('dy');
      for (const slug of [healthy, broken]) expect((await ws.run(['create', slug])).code).toBe(0);
      // The other tenant's database is gone: a problem of its own, none of the healthy one's.
      const { database, user } = ws.names(broken);
      await ws.probe.drop(database, user);
    });
    afterAll(async () => {
      await ws.cleanup();
    });
    const checksOf = (data: { health: { checks: Check[] } }) =>
      Object.fromEntries(data.health.checks.map((c) => [c.check, c.status]));

    it("reports one tenant's health, check by check, and nothing about the others", async () => {
      const { result, data } = await ws.json(['doctor', healthy]);
      expect(result.code, result.stderr).toBe(0);
      expect(data.health.slug).toBe(healthy);
      expect(checksOf(data)).toEqual({
        reachable: 'ok',
        database: 'ok',
        login: engine === 'sqlite' ? 'skipped' : 'ok',
        migrations: 'ok',
        // Young and never backed up: the first backup is not due yet.
        backup: 'notice',
        lock: 'ok',
        interrupted: 'ok',
      });
      expect(data.health.lastBackup).toBeNull();
      expect(data.findings.every((f: { tenant: string | null }) => f.tenant === healthy || f.tenant === null)).toBe(
        true,
      );
      expect(JSON.stringify(data)).not.toContain(broken);

      expect((await ws.run(['backup', healthy])).code).toBe(0);
      const after = await ws.json(['doctor', healthy]);
      expect(checksOf(after.data).backup).toBe('ok');
      expect(after.data.health.lastBackup.ageSeconds).toBeLessThan(120);
      const text = await ws.run(['doctor', healthy]);
      expect(text.stdout).toMatch(/migrations\s*│\s*ok/);
    });

    it('exits 1 for a tenant with a problem, naming the check', async () => {
      const { result, data } = await ws.json(['doctor', broken]);
      expect(result.code).toBe(1);
      expect(checksOf(data).database).toBe('problem');
      expect(data.findings.map((f: { kind: string }) => f.kind)).toContain('missing_database');
    });

    it("stats <slug> says when the tenant's database was last used, where the engine can tell", async () => {
      const before = Date.now() - 2000;
      const { database } = ws.names(healthy);
      const db = ws.probe.admin(database);
      try {
        await db('users').insert({ email: 'last@activity.test', name: 'Last' });
        // PostgreSQL keeps activity only for sessions open now: this one, left open while stats runs.
        const { result, data } = await ws.json(['stats', healthy]);
        expect(result.code, result.stderr).toBe(0);
        const at = data.tenants[0].lastActivity;
        expect(at).not.toBeNull();
        expect(Date.parse(at)).toBeGreaterThanOrEqual(before - (engine === 'mysql' ? 1000 : 0));
      } finally {
        await db.destroy();
      }
      if (engine === 'postgres') {
        // No session open: PostgreSQL cannot tell, and says so (null), rather than guessing.
        const { data } = await ws.json(['stats', healthy]);
        expect(data.tenants[0].lastActivity).toBeNull();
      }
    });

    it('exits 3 for an unknown tenant and 2 for --drop-orphans with a slug', async () => {
      expect((await ws.run(['doctor', 'nosuchtenant'])).code).toBe(3);
      expect((await ws.run(['doctor', healthy, '--fix', '--drop-orphans', '--yes'])).code).toBe(2);
    });
  });
}
