import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');
const NAMES = Array.from({ length: 30 }, (_, i) => `${String(i + 1).padStart(3, '0')}_step.js`);

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`long lists in migrate-all's table on ${engine}`, () => {
    let ws: Workspace;
    beforeAll(() => {
      ws = new Workspace(engine);
      mkdirSync(join(ws.dir, 'thirty'));
      mkdirSync(join(ws.dir, 'none'));
      for (const name of NAMES)
        writeFileSync(join(ws.dir, 'thirty', name), 'exports.up = async () => {};\nexports.down = async () => {};\n');
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    it('are summarised in the table (first 3, "and N more"), listed in full in --json', async () => {
      const slug = ws.slug();
      const created = await ws.run(['create', slug, '--no-seed', '--migrations-dir', 'thirty']);
      expect(created.code, created.stderr).toBe(0);
      // A tenant whose 30 applied migrations its directory lacks.
      const human = await ws.run(['migrate-all', '--tenants', slug, '--migrations-dir', 'none']);
      expect(human.code).toBe(1);
      expect(human.stdout).toContain('001_step.js, 002_step.js, 003_step.js and 27 more');
      expect(human.stdout).not.toContain('004_step.js');
      const json = await ws.json(['migrate-all', '--tenants', slug, '--migrations-dir', 'none']);
      expect(json.data.tenants[0].missingMigrations).toEqual(NAMES);
      expect(json.data.tenants[0].error).toContain(NAMES.join(', '));
    }, 120_000);
  });
}
