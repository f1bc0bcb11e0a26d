import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

// An admin that can create databases but not users: what `server add` refuses, so must `server update`.
for (const engine of selectedEngines().filter((e): e is 'postgres' | 'mysql' => e !== 'sqlite')) {
  describe.skipIf(!reachable.includes(engine))(`server credentials on ${engine}`, () => {
    const weak = `weak${randomBytes(3).toString('hex')}`;
    const admin = knexFactory({ client: engine === 'postgres' ? 'pg' : 'mysql2', connection: SERVER_URLS[engine] });
    let ws: Workspace;
    beforeAll(async () => {
      if (engine === 'postgres') await admin.raw(`create role "${weak}" login createdb`);
      else {
        await admin.raw(`create user '${weak}'@'%'`);
        await admin.raw(`grant create, drop on *.* to '${weak}'@'%'`);
        // What reading the server's identity needs (README "Server identity"): the privilege check comes after.
        await admin.raw(`grant select, insert, create on tenantctl_identity.* to '${weak}'@'%'`);
      }
      ws = new Workspace(engine, { env: { TENANTCTL_SERVER_URL: undefined } });
      const added = await ws.run(['server', 'add', 'main', '--url', SERVER_URLS[engine]]);
      expect(added.code, added.stderr).toBe(0);
    });
    afterAll(async () => {
      await ws.cleanup();
      await admin.raw(engine === 'postgres' ? `drop role if exists "${weak}"` : `drop user if exists '${weak}'@'%'`);
      await admin.destroy();
    });

    it('server update --url refuses an admin lacking a privilege (exit 4) and keeps the old credentials', async () => {
      const url = new URL(SERVER_URLS[engine]);
      url.username = weak;
      url.password = '';
      const before = (await ws.json(['server', 'show', 'main'])).data;
      const refused = await ws.run(['server', 'update', 'main', '--url', url.toString()]);
      expect(refused.code, refused.stderr).toBe(4);
      expect(refused.stderr).toMatch(new RegExp(`admin login "${weak}" .* lacks `));
      const after = (await ws.json(['server', 'show', 'main'])).data;
      expect(after.user ?? after.adminUser).toBe(before.user ?? before.adminUser);
      expect(after.reachable).toBe(true);
    });
  });
}
