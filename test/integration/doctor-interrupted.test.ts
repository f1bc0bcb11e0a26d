import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SECOND_SERVER_URLS, SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { adminOn } from '../helpers/table-lock.js';
import { waitFor } from '../helpers/wait-for.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

type Finding = { kind: string; tenant: string | null; operation?: string; message: string; fix: string };

for (const engine of selectedEngines().filter((e): e is 'postgres' | 'mysql' => e !== 'sqlite')) {
  describe.skipIf(!reachable.includes(engine))(`doctor after a killed move and a failed suspend, on ${engine}`, () => {
    const prefix = `dri${randomBytes(3).toString('hex')}`;
    const urls = { main: SERVER_URLS[engine], second: SECOND_SERVER_URLS[engine] };
    let ws: Workspace;
    const slugs: string[] = [];
    beforeAll(async () => {
      ws = new Workspace(engine, {
        env: {
          TENANTCTL_SERVER_URL: undefined,
          TENANTCTL_DATABASE_NAME_TEMPLATE: `${prefix}_{slug}`,
          TENANTCTL_USER_NAME_TEMPLATE: `${prefix}_{slug}`,
        },
      });
      for (const [name, url] of Object.entries(urls)) {
        const added = await ws.run(['server', 'add', name, '--url', url]);
        expect(added.code, added.stderr).toBe(0);
      }
    });
    afterAll(async () => {
      for (const url of Object.values(urls)) {
        const admin = adminOn(engine, url);
        try {
          for (const slug of slugs) {
            const name = `${prefix}_${slug}`;
            if (engine === 'postgres') {
              await admin.raw(`drop database if exists "${name}" with (force)`);
              for (const role of [name, `${name}_renamed`]) await admin.raw(`drop role if exists "${role}"`);
            } else {
              await admin.raw(`drop database if exists \`${name}\``);
              for (const user of [name, `${name}_renamed`]) await admin.raw('drop user if exists ?@?', [user, '%']);
            }
          }
        } finally {
          await admin.destroy();
        }
      }
      await ws.cleanup();
    });
    const create = async () => {
      const slug = ws.slug();
      slugs.push(slug);
      const created = await ws.run(['create', slug, '--server', 'main', '--no-seed']);
      expect(created.code, created.stderr).toBe(0);
      return slug;
    };
    const findings = async (slug: string) =>
      ((await ws.json(['doctor'])).data.findings as Finding[]).filter((f) => f.tenant === slug);

    it('reports a move killed in its retire step, and the command that finishes it', async () => {
      const slug = await create();
      const killed = ws.start(['move', slug, '--to', 'second'], { TENANTCTL_TEST_PAUSE_AT: 'retire' });
      let stderr = '';
      killed.child.stderr!.on('data', (chunk) => (stderr += chunk));
      await waitFor(async () => stderr.includes('TENANTCTL_TEST_PAUSED retire'), 120_000);
      killed.child.kill('SIGKILL');
      await killed.done;
      // Switched and unfenced: the tenant's row looks done; only the move's record says otherwise.
      expect((await ws.json(['show', slug])).data).toMatchObject({ server: 'second', step: null });

      const found = (await findings(slug)).filter((f) => f.kind === 'interrupted');
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({
        operation: 'move',
        fix: expect.stringMatching(new RegExp(`^tenantctl move ${slug}`)),
      });
      expect(found[0]!.message).toMatch(/interrupted at step "retire", after its switch/);

      const finished = await ws.json(['move', slug]);
      expect(finished.result.code, finished.result.stderr).toBe(0);
      expect(finished.data.resumed).toBe('finished');
      expect((await findings(slug)).filter((f) => f.kind === 'interrupted')).toEqual([]);
    }, 240_000);

    it('a suspend that fails is recorded as failed (step cleared, error kept), not left for doctor to call interrupted', async () => {
      const slug = await create();
      const user = `${prefix}_${slug}`;
      // Someone renamed the tenant's user by hand: suspending it fails on the server.
      const admin = adminOn(engine, urls.main);
      try {
        if (engine === 'postgres') await admin.raw(`alter role "${user}" rename to "${user}_renamed"`);
        else await admin.raw('rename user ?@? to ?@?', [user, '%', `${user}_renamed`, '%']);
      } finally {
        await admin.destroy();
      }
      const suspended = await ws.run(['suspend', slug, '--reason', 'unpaid']);
      expect(suspended.code).toBe(1);
      expect(suspended.stderr).toMatch(/suspend failed/);
      const tenant = (await ws.json(['show', slug])).data;
      expect(tenant).toMatchObject({ status: 'active', step: null });
      expect(tenant.lastError).toMatch(/^suspend failed: /);
      const found = await findings(slug);
      expect(found.map((f) => f.kind)).not.toContain('interrupted');
      expect(found.map((f) => f.kind)).toContain('missing_user');
    }, 120_000);
  });
}
