import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SECOND_SERVER_URLS, SERVER_URLS } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

/**
 * `restore <slug> --as <copy>` on a fleet of registered servers (no serverUrl): the copy is placed
 * like create, never on the embedded SQLite default, and gets indexed metadata of its own.
 */
for (const engine of ['postgres', 'mysql'] as const) {
  describe.skipIf(!reachable.includes(engine))(`restore --as onto registered ${engine} servers`, () => {
    let ws: Workspace;
    beforeAll(async () => {
      ws = new Workspace(engine, { env: { TENANTCTL_SERVER_URL: undefined, TENANTCTL_INDEXED_METADATA: 'domain' } });
      for (const [name, url] of [
        ['a', SERVER_URLS[engine]],
        ['b', SECOND_SERVER_URLS[engine]],
      ] as const) {
        const added = await ws.run(['server', 'add', name, '--url', url]);
        expect(added.code, added.stderr).toBe(0);
      }
    });
    afterAll(async () => {
      // Copies made on server b are dropped there (the workspace's probe reaches server a only).
      const rows = (await ws.json(['list'])).data as Array<{ server: string; database: string; user: string }>;
      const url = new URL(SECOND_SERVER_URLS[engine]);
      const b = knexFactory({
        client: engine === 'postgres' ? 'pg' : 'mysql2',
        connection: {
          host: url.hostname,
          port: Number(url.port),
          user: decodeURIComponent(url.username),
          password: decodeURIComponent(url.password),
          database: url.pathname.slice(1) || undefined,
        },
        pool: { min: 0, max: 1 },
      });
      try {
        for (const t of rows.filter((row) => row.server === 'b')) {
          if (engine === 'postgres') {
            await b.raw(`drop database if exists "${t.database}" with (force)`);
            await b.raw(`drop role if exists "${t.user}"`);
          } else {
            await b.raw(`drop database if exists \`${t.database}\``);
            await b.raw(`drop user if exists ?@'%'`, [t.user]);
          }
        }
      } finally {
        await b.destroy();
      }
      await ws.cleanup();
    });

    it('places the copy like create, with --server, --set and --name; refuses a clashing indexed value naming --set', async () => {
      const source = ws.slug('src');
      const created = await ws.run([
        'create',
        source,
        '--server',
        'a',
        '--set',
        `domain=${source}.test`,
        '--plan',
        'pro',
      ]);
      expect(created.code, created.stderr).toBe(0);
      expect((await ws.run(['backup', source])).code).toBe(0);

      // The copy would take the source's domain: refused before anything is created, naming --set.
      const clash = ws.slug('cl');
      const refused = await ws.run(['restore', source, '--as', clash]);
      expect(refused.code, refused.stderr).toBe(4);
      expect(refused.stderr).toMatch(/--set domain=/);
      expect((await ws.run(['show', clash])).code).toBe(3);
      expect(await ws.probe.databaseExists(ws.names(clash).database)).toBe(false);

      // On the server named, with its own domain and name; the plan comes from the source.
      const copy = ws.slug('cp');
      const cloned = await ws.json([
        'restore',
        source,
        '--as',
        copy,
        '--server',
        'b',
        '--set',
        `domain=${copy}.test`,
        '--name',
        'The copy',
      ]);
      expect(cloned.result.code, cloned.result.stderr).toBe(0);
      expect(cloned.data.tenant).toMatchObject({
        slug: copy,
        server: 'b',
        name: 'The copy',
        plan: 'pro',
        metadata: { domain: `${copy}.test` },
        status: 'active',
      });

      // Without --server: placement chooses among the registered servers (never the embedded SQLite).
      const placed = ws.slug('pl');
      const chosen = await ws.json(['restore', source, '--as', placed, '--set', `domain=${placed}.test`]);
      expect(chosen.result.code, chosen.result.stderr).toBe(0);
      expect(['a', 'b']).toContain(chosen.data.tenant.server);
      const shown = (await ws.json(['show', placed])).data;
      expect(shown.engine ?? engine).not.toBe('sqlite');

      // The flags of the copy go only with --as.
      expect((await ws.run(['restore', source, '--server', 'b'])).code).toBe(2);
    }, 180_000);
  });
}
