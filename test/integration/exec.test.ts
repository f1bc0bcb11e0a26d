import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { withTenantDb } from '../helpers/tenant-db.js';
import { waitFor } from '../helpers/wait-for.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

/** The session's own user, as each engine names it: proves exec runs as the tenant. */
const WHO: Record<string, string> = {
  postgres: 'current_user',
  mysql: "substring_index(current_user(), '@', 1)",
  sqlite: "'sqlite'",
};

/** A script that adds one row per run in the tenant's transaction, notes its start, then waits (to be killed). */
const SLOW_SCRIPT = (starts: string) => `
import { appendFileSync } from 'node:fs';
export default async function (knex, tenant) {
  await knex('users').insert({ email: 'probe-' + Math.random().toString(36).slice(2) + '@x', name: 'exec-probe' });
  appendFileSync(${JSON.stringify(starts)}, tenant.slug + '\\n');
  await new Promise((resolve) => setTimeout(resolve, 700));
}
`;

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`exec on ${engine}`, () => {
    let ws: Workspace;
    const slugs: string[] = [];
    const nameOf = (slug: string) =>
      withTenantDb(ws, slug, async (db) => (await db('users').where({ email: 'fix@x' }).first())?.name as string);

    beforeAll(async () => {
      ws = new Workspace(engine);
      for (let i = 0; i < 4; i++) {
        const slug = ws.slug('ex');
        slugs.push(slug);
        const created = await ws.run(['create', slug]);
        expect(created.code, created.stderr).toBe(0);
        await withTenantDb(ws, slug, (db) => db('users').insert({ email: 'fix@x', name: 'old' }));
      }
      writeFileSync(
        join(ws.dir, 'fix.sql'),
        `-- a data fix: two statements, one transaction per tenant
update users set name = 'step; one' where email = 'fix@x';
update users set name = ${WHO[engine]} where email = 'fix@x';
`,
      );
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    it('without --yes and no terminal: exit 2, nothing run', async () => {
      const result = await ws.run(['exec', '--sql-file', 'fix.sql', '--all']);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toMatch(/--yes/);
      for (const slug of slugs) expect(await nameOf(slug)).toBe('old');
      // Neither file nor selection: bad usage too.
      expect((await ws.run(['exec', '--all', '--yes'])).code).toBe(2);
    });

    if (engine === 'postgres' || engine === 'sqlite')
      it('--dry-run runs it and rolls it back: data unchanged, what it would change reported', async () => {
        const { result, data } = await ws.json(['exec', '--sql-file', 'fix.sql', '--all', '--yes', '--dry-run']);
        expect(result.code, result.stderr).toBe(0);
        expect(data.dryRun).toBe(true);
        expect(data.runId).toBeNull();
        expect(data.counts.executed).toBe(slugs.length);
        expect(data.rowsChanged).toBe(2 * slugs.length);
        for (const slug of slugs) expect(await nameOf(slug)).toBe('old');
      });

    if (engine === 'mysql')
      it('--dry-run of DDL is not tried (MySQL would commit it): every tenant skipped, saying why, nothing changed', async () => {
        writeFileSync(join(ws.dir, 'ddl.sql'), 'alter table users add column dry_col int;\n');
        const { result, data } = await ws.json(['exec', '--sql-file', 'ddl.sql', '--all', '--yes', '--dry-run']);
        expect(result.code, result.stderr).not.toBe(2);
        expect(data.counts.skipped).toBe(slugs.length);
        expect(data.tenants[0].error).toMatch(/commits DDL .* could not be rolled back/);
        for (const slug of slugs)
          expect(await withTenantDb(ws, slug, (db) => db.schema.hasColumn('users', 'dry_col'))).toBe(false);
      });

    it('changes the rows of every selected tenant, as the tenant, recorded and audited with the checksum', async () => {
      const { result, data } = await ws.json(['exec', '--sql-file', 'fix.sql', '--all', '--yes']);
      expect(result.code, result.stderr).toBe(0);
      expect(data.counts).toMatchObject({ executed: slugs.length, failed: 0 });
      expect(data.work).toMatchObject({ kind: 'sql', statements: 2 });
      expect(data.work.sha256).toMatch(/^[0-9a-f]{64}$/);
      for (const slug of slugs) {
        const expected = engine === 'sqlite' ? 'sqlite' : ws.names(slug).user;
        expect(await nameOf(slug)).toBe(expected);
      }
      expect(data.tenants.every((t: { atomic: boolean }) => t.atomic)).toBe(true);
      const runs = await ws.json(['runs', '--kind', 'exec']);
      expect(runs.data[0]).toMatchObject({ id: data.runId, kind: 'exec', status: 'succeeded' });
      const log = await ws.run(['log', '--json']);
      expect(log.stdout).toContain(data.work.sha256);
    });

    it('a failing statement rolls its tenant back, the others go on; exit 1', async () => {
      await withTenantDb(ws, slugs[0]!, (db) => db('users').where({ email: 'fix@x' }).update({ name: 'old' }));
      writeFileSync(
        join(ws.dir, 'breaks.sql'),
        "update users set name = 'half' where email = 'fix@x';\nupdate users set nosuchcolumn = 1;\n",
      );
      const { result, data } = await ws.json(['exec', '--sql-file', 'breaks.sql', slugs[0]!, slugs[1]!, '--yes']);
      expect(result.code, result.stderr).toBe(1);
      expect(data.counts.failed).toBe(2);
      expect(await nameOf(slugs[0]!)).toBe('old');
    });

    it('killed mid-run, then --resume: every tenant runs its script exactly once', async () => {
      const starts = join(ws.dir, 'exec-starts');
      writeFileSync(join(ws.dir, 'slow.mjs'), SLOW_SCRIPT(starts));
      const killed = ws.start(['exec', '--script', 'slow.mjs', '--all', '--yes', '--concurrency', '1']);
      await waitFor(async () => existsSync(starts) && readFileSync(starts, 'utf8').trim().split('\n').length >= 2);
      killed.child.kill('SIGKILL');
      await killed.done;
      const probes = () =>
        Promise.all(
          slugs.map((s) =>
            withTenantDb(ws, s, async (db) =>
              Number((await db('users').where({ name: 'exec-probe' }).count({ n: '*' }))[0]!.n),
            ),
          ),
        );
      const before = await probes();
      expect(before.filter((n) => n === 1).length).toBeLessThan(slugs.length);
      expect(Math.max(...before)).toBeLessThanOrEqual(1);
      const runs = await ws.json(['runs', '--kind', 'exec']);
      const runId = runs.data[0].id;
      const resumed = await ws.json(['exec', '--resume', String(runId), '--yes']);
      expect(resumed.result.code, resumed.result.stderr).toBe(0);
      expect(resumed.data.resumedFrom).toBe(runId);
      expect(resumed.data.total).toBeLessThan(slugs.length);
      expect(await probes()).toEqual(slugs.map(() => 1));
      const after = await ws.json(['runs', '--kind', 'exec']);
      expect(after.data.find((r: { id: number }) => r.id === runId).status).toBe('interrupted');
      // A finished run cannot be resumed.
      expect((await ws.run(['exec', '--resume', String(after.data[0].id), '--yes'])).code).toBe(4);
    });
  });
}
