import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

/** A migration that talks, as many real ones do ("Comment on users added"). */
const TALKING = (name: string) => `
exports.up = async (knex) => {
  console.log('Table ${name} added');
  console.info('info from ${name}');
  console.warn('warn from ${name}');
  console.error('error from ${name}');
  console.debug('debug from ${name}');
  await knex.schema.createTable('${name}', (t) => t.increments('id'));
};
exports.down = (knex) => knex.schema.dropTable('${name}');
`;

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`what migrations print, on ${engine}`, () => {
    let ws: Workspace;
    let env: Record<string, string>;
    beforeAll(() => {
      // What a migration sees and prints while a create runs it: the replay path (a template runs
      // them once, in its build).
      ws = new Workspace(engine, { env: { TENANTCTL_TEMPLATES: 'off' } });
      mkdirSync(join(ws.dir, 'talking'));
      writeFileSync(join(ws.dir, 'talking', '001_first.js'), TALKING('first'));
      env = { TENANTCTL_MIGRATIONS_DIR: join(ws.dir, 'talking') };
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    it('goes to stderr, never into --json stdout, and is kept per tenant as log', async () => {
      const slugs = [ws.slug(), ws.slug(), ws.slug(), ws.slug(), ws.slug()];
      for (const slug of slugs) {
        const created = await ws.json(['create', slug, '--no-seed'], env); // parses: stdout is JSON only
        expect(created.result.code, created.result.stderr).toBe(0);
        expect(created.data.log).toEqual([
          'Table first added',
          'info from first',
          'warn from first',
          'error from first',
          'debug from first',
        ]);
        expect(created.result.stderr).toContain('Table first added');
      }
      writeFileSync(join(ws.dir, 'talking', '002_second.js'), TALKING('second'));
      const { result, data } = await ws.json(['migrate-all', '--tenants', slugs.join(','), '--concurrency', '4'], env);
      expect(result.code, result.stderr).toBe(0);
      expect(data.tenants).toHaveLength(5);
      for (const tenant of data.tenants) {
        expect(tenant).toMatchObject({ outcome: 'migrated', migrations: ['002_second.js'] });
        expect(tenant.log).toContain('Table second added');
        // Several at once: each line on stderr says whose it is.
        expect(result.stderr).toContain(`[${tenant.slug}] Table second added`);
      }

      // A person's output keeps stdout for the result too.
      writeFileSync(join(ws.dir, 'talking', '003_third.js'), TALKING('third'));
      const human = await ws.run(['migrate', slugs[0]!], env);
      expect(human.code, human.stderr).toBe(0);
      expect(human.stdout).not.toContain('Table third added');
      expect(human.stderr).toContain('Table third added');
      // One tenant alone: its lines are not prefixed.
      expect(human.stderr).not.toContain(`[${slugs[0]}]`);
    }, 300_000);
  });
}
