import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`{meta.<key>} naming templates on ${engine}`, () => {
    let ws: Workspace;
    const made: string[] = [];
    beforeAll(() => {
      ws = new Workspace(engine, {
        env: {
          TENANTCTL_DATABASE_NAME_TEMPLATE: 'dmt_{meta.btype}_{slug}',
          TENANTCTL_USER_NAME_TEMPLATE: 'dmt_{meta.btype}_{slug}',
          TENANTCTL_INDEXED_METADATA: 'btype',
        },
      });
    });
    afterAll(async () => {
      for (const name of made) await ws.probe.drop(name, engine === 'sqlite' ? null : name).catch(() => undefined);
      await ws.cleanup();
    });

    it('names the database from indexed metadata, and refuses a missing, unsafe or too long value (exit 2)', async () => {
      const slug = ws.slug('dt');
      made.push(`dmt_retail_${slug}`);
      const created = await ws.json(['create', slug, '--set', 'btype=retail']);
      expect(created.result.code, created.result.stderr).toBe(0);
      expect(created.data.database).toBe(`dmt_retail_${slug}`);
      expect((await ws.run(['create', ws.slug('dt')])).code).toBe(2);
      expect((await ws.run(['create', ws.slug('dt'), '--set', 'btype=Bad-Name!'])).code).toBe(2);
      expect((await ws.run(['create', ws.slug('dt'), '--set', `btype=${'x'.repeat(70)}`])).code).toBe(
        engine === 'sqlite' ? 0 : 2,
      );
      const doctor = await ws.json(['doctor', slug]);
      expect(doctor.result.code, doctor.result.stderr).toBe(0);
    });
  });
}
