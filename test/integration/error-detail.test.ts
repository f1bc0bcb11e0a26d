import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

/** A migration that trips a unique constraint, as a real one does on data it did not expect. */
const DUPLICATE = `
exports.up = async (knex) => {
  await knex.schema.createTable('people', (t) => {
    t.increments('id');
    t.string('firstName', 32).unique();
  });
  await knex('people').insert([{ firstName: 'X' }, { firstName: 'X' }]);
};
exports.down = (knex) => knex.schema.dropTableIfExists('people');
`;

/** What each engine's driver says beyond the message. */
const EXPECTED: Record<string, { detail: Record<string, unknown>; said: RegExp }> = {
  postgres: {
    detail: { detail: 'Key ("firstName")=(X) already exists.', constraint: expect.any(String), code: '23505' },
    said: /\(detail: Key \("firstName"\)=\(X\) already exists\.; constraint: \w+\)/,
  },
  mysql: { detail: { sqlState: '23000', code: 'ER_DUP_ENTRY' }, said: /Duplicate entry/ },
};

for (const engine of selectedEngines().filter((e) => e !== 'sqlite')) {
  describe.skipIf(!reachable.includes(engine))(`the database's own words on ${engine}`, () => {
    let ws: Workspace;
    let env: Record<string, string>;
    beforeAll(() => {
      ws = new Workspace(engine);
      mkdirSync(join(ws.dir, 'dup'));
      env = { TENANTCTL_MIGRATIONS_DIR: join(ws.dir, 'dup') };
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    it('reach the failure of create and of migrate-all, in words and as detail', async () => {
      const expected = EXPECTED[engine]!;
      const ok = ws.slug();
      expect((await ws.run(['create', ok, '--no-seed'], env)).code).toBe(0);
      writeFileSync(join(ws.dir, 'dup', '001_duplicate.js'), DUPLICATE);

      const created = await ws.json(['create', ws.slug(), '--no-seed'], env);
      expect(created.result.code, created.result.stderr).toBe(1);
      expect(created.data.error.detail).toMatchObject(expected.detail);
      expect(created.data.error.message).toMatch(expected.said);
      const human = await ws.run(['create', ws.slug(), '--no-seed'], env);
      expect(human.stderr).toMatch(expected.said);

      const migrated = await ws.json(['migrate-all', '--tenants', ok], env);
      expect(migrated.result.code).toBe(1);
      expect(migrated.data.tenants[0]).toMatchObject({ outcome: 'failed', detail: expected.detail });
      expect(migrated.data.tenants[0].error).toMatch(expected.said);
    }, 180_000);
  });
}
