import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { pinnedKnexModules } from '../helpers/pinned-knex.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');
const PINNED = '2.5.1';

/** Records which knex ran it: the project's (its Client class) or another one. */
const WHICH_KNEX = `
const { Client } = require('knex');
exports.up = async (knex) => {
  await knex.schema.createTable('which_knex', (t) => t.string('version', 32));
  await knex('which_knex').insert({ version: knex.client instanceof Client ? require('knex/package.json').version : 'another knex' });
};
exports.down = (knex) => knex.schema.dropTable('which_knex');
`;

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`migrations with the project's own knex on ${engine}`, () => {
    let ws: Workspace;
    let project: string;
    beforeAll(() => {
      // What a migration sees and prints while a create runs it: the replay path (a template runs
      // them once, in its build).
      ws = new Workspace(engine, { env: { TENANTCTL_TEMPLATES: 'off' } });
      // An application pinning knex 2: its migrations directory resolves app/node_modules/knex.
      project = join(ws.dir, 'app');
      mkdirSync(join(project, 'migrations'), { recursive: true });
      symlinkSync(pinnedKnexModules(PINNED), join(project, 'node_modules'), 'dir');
      writeFileSync(join(project, 'migrations', '001_which_knex.js'), WHICH_KNEX);
    }, 300_000);
    afterAll(async () => {
      await ws.cleanup();
    });

    const whichKnex = async (slug: string) => {
      const db = ws.probe.admin(ws.names(slug).database);
      try {
        return await db('which_knex').pluck('version');
      } finally {
        await db.destroy();
      }
    };

    it('create and migrate-all run the knex the migrations directory resolves, and say which', async () => {
      const env = { TENANTCTL_MIGRATIONS_DIR: join(project, 'migrations') };
      const slug = ws.slug();
      const created = await ws.json(['create', slug, '--no-seed'], env);
      expect(created.result.code, created.result.stderr).toBe(0);
      expect(created.data.knex).toMatchObject({ version: PINNED, source: 'project' });
      expect(await whichKnex(slug)).toEqual([PINNED]);

      const human = await ws.run(['create', ws.slug(), '--no-seed'], env);
      expect(human.stdout).toMatch(new RegExp(`knex\\s+${PINNED.replaceAll('.', '\\.')} \\(the project's`));

      writeFileSync(
        join(project, 'migrations', '002_more.js'),
        "exports.up = (knex) => knex('which_knex').insert({ version: 'second' });\nexports.down = () => {};\n",
      );
      const migrated = await ws.json(['migrate-all', '--tenants', slug], env);
      expect(migrated.result.code, migrated.result.stderr).toBe(0);
      expect(migrated.data.knex).toMatchObject({ version: PINNED, source: 'project' });
      expect(migrated.data.tenants[0].outcome).toBe('migrated');
    }, 180_000); // many CLI runs: minutes on a loaded machine

    it("falls back to tenantctl's own knex, with a note, when the project has none", async () => {
      const { result, data } = await ws.json(['create', ws.slug()]);
      expect(result.code, result.stderr).toBe(0);
      expect(data.knex).toMatchObject({
        source: 'tenantctl',
        version: expect.stringMatching(/^3\./),
        note: expect.stringMatching(/no knex package resolves/),
      });
    }, 180_000); // many CLI runs: minutes on a loaded machine
  });
}
