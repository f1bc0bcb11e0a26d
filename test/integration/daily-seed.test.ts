import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

/** A seed that is safe to run again, and returns a value (as a generated first-admin password would be). */
const API_KEY_SEED = `
exports.seed = async function seed(knex, tenant) {
  if (!(await knex.schema.hasTable('api_keys')))
    await knex.schema.createTable('api_keys', (t) => { t.increments('id'); t.string('slug'); });
  await knex('api_keys').insert({ slug: tenant.slug });
  return { apiKey: 'key-' + tenant.slug, rounds: 1 };
};
`;

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`tenantctl seed on ${engine}`, () => {
    let ws: Workspace;
    let a: string;
    let b: string;
    beforeAll(async () => {
      ws = new Workspace(engine);
      writeFileSync(join(ws.dir, 'seeds', '03_api_key.js'), API_KEY_SEED);
      a = ws.slug('ds');
      b = ws.slug('ds');
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    it('create shows what a seed returned: masked, or with --show-secrets', async () => {
      const masked = await ws.json(['create', a]);
      expect(masked.result.code, masked.result.stderr).toBe(0);
      expect(masked.data.seedValues).toEqual({ '03_api_key.js': { apiKey: '********', rounds: '********' } });
      expect(masked.result.stdout).not.toContain(`key-${a}`);
      const shown = await ws.json(['create', b, '--show-secrets']);
      expect(shown.data.seedValues['03_api_key.js']).toEqual({ apiKey: `key-${b}`, rounds: 1 });
      const text = await ws.run(['show', a]);
      expect(text.code).toBe(0);
    });

    it('seeds existing tenants with one seed file, as a recorded run with per-tenant outcomes', async () => {
      const { result, data } = await ws.json(['seed', a, b, '--file', '03_api_key.js', '--show-secrets']);
      expect(result.code, result.stderr).toBe(0);
      expect(data.ok).toBe(true);
      expect(data.counts).toMatchObject({ seeded: 2, failed: 0 });
      expect(data.tenants.map((t: { slug: string; outcome: string }) => [t.slug, t.outcome])).toEqual(
        [a, b].sort().map((slug) => [slug, 'seeded']),
      );
      const mine = data.tenants.find((t: { slug: string }) => t.slug === a);
      expect(mine.seeds).toEqual(['03_api_key.js']);
      expect(mine.returned['03_api_key.js'].apiKey).toBe(`key-${a}`);
      // The seed ran a second time in the tenant's database.
      const db = ws.probe.admin(ws.names(a).database);
      try {
        expect((await db('api_keys').count({ n: '*' }))[0]!.n).toSatisfy((n: unknown) => Number(n) === 2);
      } finally {
        await db.destroy();
      }
      const runs = await ws.json(['runs']);
      expect(runs.data.some((r: { id: number; kind: string }) => r.id === data.runId && r.kind === 'seed')).toBe(true);
      const log = await ws.json(['log', '--limit', '1']);
      expect(log.data[0]).toMatchObject({ command: 'seed', outcome: 'ok' });
      expect(JSON.stringify(log.data)).not.toContain(`key-${a}`);
    });

    it('masks returned values by default, reports a failing seed per tenant (exit 1), refuses an unknown seed (exit 2)', async () => {
      const masked = await ws.json(['seed', '--all', '--file', '03_api_key.js']);
      expect(masked.result.code).toBe(0);
      expect(masked.result.stdout).not.toContain('key-');
      // The example seeds insert their roles again: a unique name refuses them, and the tenant fails.
      const again = await ws.json(['seed', a]);
      expect(again.result.code).toBe(1);
      expect(again.data.tenants[0]).toMatchObject({ slug: a, outcome: 'failed' });
      expect(again.data.tenants[0].error).toMatch(/01_roles_and_permissions/);
      expect((await ws.run(['seed', a, '--file', 'nope.js'])).code).toBe(2);
      expect((await ws.run(['seed'])).code).toBe(2);
      expect((await ws.run(['seed', 'nosuchtenant'])).code).toBe(3);
    });
  });
}
