import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { registryDatabase } from '../helpers/registry-database.js';
import { FIXTURES, Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');
const KEY = randomBytes(32).toString('hex');

for (const engine of ['postgres', 'mysql'] as const) {
  describe.skipIf(!reachable.includes(engine))(`a registry on ${engine}`, () => {
    const registry = registryDatabase(engine);
    let ws: Workspace;
    beforeAll(async () => {
      await registry.create();
      ws = new Workspace(engine, { env: { TENANTCTL_REGISTRY_URL: registry.url, TENANTCTL_SECRET_KEY: KEY } });
    });
    afterAll(async () => {
      await ws.cleanup();
      await registry.drop();
    });

    it('is set up by init and holds tenants like the embedded one', async () => {
      expect((await ws.run(['init'])).code).toBe(0);
      const slug = ws.slug();
      const created = await ws.json(['create', slug]);
      expect(created.result.code, created.result.stderr).toBe(0);
      expect((await ws.json(['list'])).data.map((t: { slug: string }) => t.slug)).toEqual([slug]);
    });

    it('refuses to run without a secret key, and with the wrong one', async () => {
      const none = await ws.run(['create', ws.slug()], { TENANTCTL_SECRET_KEY: undefined });
      expect(none.code).toBe(2);
      expect(none.stderr).toMatch(/no secret key/);
      const wrong = await ws.run(['create', ws.slug()], { TENANTCTL_SECRET_KEY: randomBytes(32).toString('hex') });
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toMatch(/not the one this registry was set up with/);
    });

    it('holds the tenant lock in the registry server, and a killed holder leaves none behind', async () => {
      const slug = ws.slug();
      // Replayed: from a template, the migrations run in the template's build, not at this step.
      const slow = ws.start(['create', slug, '--no-seed', '--replay'], {
        TENANTCTL_MIGRATIONS_DIR: join(FIXTURES, 'slow-migrations'),
      });
      try {
        for (let i = 0; i < 300; i++) {
          const shown = await ws.run(['show', slug, '--json']);
          if (shown.code === 0 && JSON.parse(shown.stdout).step === 'migrations') break;
          await new Promise((r) => setTimeout(r, 100));
        }
        const blocked = await ws.run(['create', slug]);
        expect(blocked.code).toBe(6);
      } finally {
        slow.child.kill('SIGKILL');
        await slow.done;
      }
      const resumed = await ws.json(['create', slug]);
      expect(resumed.result.code, resumed.result.stderr).toBe(0);
      expect(resumed.data.retried).toBe(true);
    });
  });
}
