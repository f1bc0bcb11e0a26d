import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { OwnPostgres } from '../helpers/own-postgres.js';
import { sqliteKnex } from '../helpers/sqlite-knex.js';
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

// A server that asks for a password when none is stored: refused at once, saying so (exit 5).
describe.skipIf(!reachable.includes('postgres') || !reachable.includes('mysql'))(
  'a password asked, none stored',
  () => {
    const own = new OwnPostgres(5462);
    const pwUser = `pw${randomBytes(3).toString('hex')}`;
    const mysqlAdmin = knexFactory({ client: 'mysql2', connection: SERVER_URLS.mysql });
    let ws: Workspace;
    beforeAll(async () => {
      own.start();
      // Password logins for one role; trust for the rest (the test's own admin).
      const hba = join(own.directory, 'data', 'pg_hba.conf');
      writeFileSync(hba, `host all ${pwUser} 127.0.0.1/32 scram-sha-256\n${readFileSync(hba, 'utf8')}`);
      own.restart();
      const pg = knexFactory({ client: 'pg', connection: own.url });
      await pg.raw(`create role "${pwUser}" login superuser password 'pw-${pwUser}'`);
      await pg.destroy();
      await mysqlAdmin.raw(`create user '${pwUser}'@'%' identified by 'pw-${pwUser}'`);
      ws = new Workspace('postgres', { env: { TENANTCTL_SERVER_URL: undefined, TENANTCTL_CONNECT_TIMEOUT: '5' } });
    });
    afterAll(async () => {
      await ws.cleanup();
      own.destroy();
      await mysqlAdmin.raw(`drop user if exists '${pwUser}'@'%'`);
      await mysqlAdmin.destroy();
    });

    it('fails within connectTimeout with exit 5 and the command that stores one', async () => {
      expect((await ws.run(['server', 'add', 'pg', '--url', own.url])).code).toBe(0);
      expect((await ws.run(['server', 'add', 'my', '--url', SERVER_URLS.mysql])).code).toBe(0);
      // Now the servers ask this user for a password the registry does not have.
      const registry = sqliteKnex(join(ws.dir, '.tenantctl', 'registry.sqlite'));
      await registry('tenantctl_servers').update({ admin_user: pwUser, admin_password_enc: null });
      await registry.destroy();
      for (const server of ['pg', 'my']) {
        const started = performance.now();
        const shown = await ws.json(['server', 'show', server]);
        expect(shown.data).toMatchObject({ reachable: false, error: 'login refused' });
        const created = await ws.run(['create', ws.slug(), '--server', server]);
        expect(created.code).toBe(5);
        expect(created.stderr).toContain(
          `login refused: the server asks for a password and none is stored (tenantctl server update ${server} --password-stdin)`,
        );
        expect(performance.now() - started).toBeLessThan(15_000);
      }
    });
  },
);
