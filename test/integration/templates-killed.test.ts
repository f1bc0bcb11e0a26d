import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { withTenantDb } from '../helpers/tenant-db.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

/** The migrations the tenant's table says it ran, by name. */
async function appliedNames(ws: Workspace, slug: string): Promise<string[]> {
  return withTenantDb(ws, slug, async (db) =>
    (await db('knex_migrations').select('name').orderBy('id')).map((r) => String(r.name)),
  );
}

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`schema templates after a kill -9, on ${engine}`, () => {
    let ws: Workspace;
    const show = async (slug: string) => (await ws.json(['show', slug])).data;
    const templates = async () => (await ws.json(['template', 'list'])).data as Array<Record<string, unknown>>;

    beforeAll(() => {
      ws = new Workspace(engine);
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    for (const step of ['create-database', 'create-clone'] as const) {
      it(`a create killed at ${step} is finished by running it again, from the same template`, async () => {
        const slug = ws.slug('k');
        const { database, user } = ws.names(slug);
        const killed = await ws.killAtStep(['create', slug, '--no-seed'], step);
        expect(killed.signal).toBe('SIGKILL');
        expect(await show(slug)).toMatchObject({ status: 'provisioning', step: step.replace('create-', '') });
        const [template] = await templates();
        expect(template).toMatchObject({ state: 'ready', stale: false });

        // With the seeds this time: they run per tenant, on the copy.
        const again = await ws.json(['create', slug]);
        expect(again.result.code, again.result.stderr).toBe(0);
        expect(again.data).toMatchObject({
          retried: true,
          tenant: { status: 'active' },
          template: { database: template!.database, built: false },
        });
        expect(await ws.probe.databaseExists(database)).toBe(true);
        if (user) expect(await ws.probe.userExists(user)).toBe(true);
        expect(await appliedNames(ws, slug)).toEqual(again.data.migrations);
        expect(again.data.migrations).toHaveLength(2);
        // The tenant's own login reads its tables, as after a replayed create.
        const password = (await ws.json(['show', slug, '--show-password'])).data.password;
        const db = ws.probe.connectAs(database, user, password);
        try {
          const [counted] = await db('roles').count({ n: '*' });
          expect(Number(counted!.n)).toBe(3); // the rows the seeds insert
        } finally {
          await db.destroy();
        }
      });
    }

    it('a template build killed half-way is never copied: doctor reports it, the next create builds anew and drops it', async () => {
      await ws.run(['template', 'drop']);
      const killed = await ws.killAtStep(['template', 'build'], 'template-seal');
      expect(killed.signal).toBe('SIGKILL');
      const [half] = await templates();
      expect(half).toMatchObject({ state: 'building' });
      const halfName = String(half!.database);
      expect(await ws.probe.databaseExists(halfName)).toBe(true);

      const doctor = await ws.json(['doctor']);
      expect(doctor.data.findings).toContainEqual(
        expect.objectContaining({
          kind: 'stale_template',
          severity: 'notice',
          autoFix: true,
          message: expect.stringMatching(/interrupted before it was complete/),
        }),
      );

      const slug = ws.slug('n');
      const created = await ws.json(['create', slug, '--no-seed']);
      expect(created.result.code, created.result.stderr).toBe(0);
      expect(created.data.template.built).toBe(true);
      expect(created.data.template.database).not.toBe(halfName);
      expect(await appliedNames(ws, slug)).toHaveLength(2);
      expect(await ws.probe.databaseExists(halfName)).toBe(false);
      expect((await templates()).map((t) => t.state)).toEqual(['ready']);
    });

    it('doctor reports a template left stale by a new migration, and --fix drops it', async () => {
      const [before] = await templates();
      expect(before).toMatchObject({ state: 'ready', stale: false });
      const name = String(before!.database);
      writeFileSync(
        join(ws.dir, 'migrations', '20240101000200_add_notes.js'),
        "exports.up = (knex) => knex.schema.createTable('notes', (t) => { t.increments('id'); });\n" +
          "exports.down = (knex) => knex.schema.dropTable('notes');\n",
      );
      const doctor = await ws.json(['doctor']);
      const finding = (doctor.data.findings as Array<Record<string, unknown>>).find((f) => f.kind === 'stale_template');
      expect(finding).toMatchObject({
        severity: 'notice',
        target: { type: 'database', name },
        message: expect.stringMatching(/holds 2 migrations, the project has 3/),
      });

      const fixed = await ws.json(['doctor', '--fix']);
      const repaired = (fixed.data.findings as Array<Record<string, unknown>>).find((f) => f.kind === 'stale_template');
      expect(repaired).toMatchObject({ fixed: true });
      expect(await templates()).toEqual([]);
      expect(await ws.probe.databaseExists(name)).toBe(false);
      // The next create builds the current one, with the new migration.
      const slug = ws.slug('m');
      const created = await ws.json(['create', slug, '--no-seed']);
      expect(created.result.code, created.result.stderr).toBe(0);
      expect(created.data.template.built).toBe(true);
      expect(await appliedNames(ws, slug)).toContain('20240101000200_add_notes.js');
    });
  });
}
