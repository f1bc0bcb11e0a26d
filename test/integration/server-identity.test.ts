import { existsSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { sqliteKnex } from '../helpers/sqlite-knex.js';
import { Workspace } from '../helpers/workspace.js';
import { readMark, writeMark } from '../helpers/ownership-marks.js';

const reachable = inject('reachableEngines');

/** The same server, its address written another way (`localhost` for `127.0.0.1`). */
function otherName(url: string): string {
  const u = new URL(url);
  u.hostname = 'localhost';
  return u.toString();
}

/** Edits the workspace's embedded registry directly, as a hand-made (or older) registry would be. */
async function inRegistry<T>(ws: Workspace, fn: (knex: ReturnType<typeof sqliteKnex>) => Promise<T>): Promise<T> {
  const knex = sqliteKnex(join(ws.dir, '.tenantctl', 'registry.sqlite'));
  try {
    return await fn(knex);
  } finally {
    await knex.destroy();
  }
}

for (const engine of selectedEngines().filter((e): e is 'postgres' | 'mysql' => e !== 'sqlite')) {
  describe.skipIf(!reachable.includes(engine))(`server identity on ${engine}`, () => {
    // A naming template of its own: doctor --drop-orphans here must never see other tests' databases.
    const prefix = `sid${randomBytes(3).toString('hex')}`;
    let ws: Workspace;
    beforeAll(async () => {
      ws = new Workspace(engine, {
        env: {
          TENANTCTL_SERVER_URL: undefined,
          TENANTCTL_DATABASE_NAME_TEMPLATE: `${prefix}_{slug}`,
          TENANTCTL_USER_NAME_TEMPLATE: `${prefix}_{slug}`,
        },
      });
      const added = await ws.run(['server', 'add', 'main', '--url', SERVER_URLS[engine]]);
      expect(added.code, added.stderr).toBe(0);
    });
    const orphans: string[] = [];
    const slugs: string[] = [];
    afterAll(async () => {
      for (const slug of slugs) await ws.probe.drop(`${prefix}_${slug}`, `${prefix}_${slug}`).catch(() => undefined);
      for (const db of orphans) await ws.probe.drop(db, null).catch(() => undefined);
      await ws.cleanup();
    });
    const create = async (server = 'main') => {
      const slug = ws.slug();
      slugs.push(slug);
      const created = await ws.run(['create', slug, '--server', server, '--no-seed']);
      expect(created.code, created.stderr).toBe(0);
      return slug;
    };

    it('refuses a second name for a registered server, however its address is written (exit 4, naming the first)', async () => {
      const refused = await ws.json(['server', 'add', 'alias', '--url', otherName(SERVER_URLS[engine])]);
      expect(refused.result.code).toBe(4);
      expect(refused.data.error.code).toBe('conflict');
      expect(refused.data.error.message).toMatch(/is the same server as "main" \(127\.0\.0\.1:\d+\)/);
      const servers = (await ws.json(['server', 'list'])).data as Array<{ name: string; identity: string }>;
      expect(servers.map((s) => s.name)).toEqual(['main']);
      expect(servers[0]!.identity).toMatch(engine === 'postgres' ? /^postgres:\d+:\d+$/ : /^(mysql|mariadb):/);
      // The configured server (serverUrl) under a name of its own is a second name too.
      const configured = await ws.run(['create', ws.slug(), '--no-seed'], {
        TENANTCTL_SERVER_URL: otherName(SERVER_URLS[engine]),
        TENANTCTL_SERVER_NAME: 'configured',
      });
      expect(configured.code).toBe(4);
      expect(configured.stderr).toMatch(/same server as "main"/);
    }, 120_000);

    it('learns identities on first contact in a registry from before; a second name found there is refused, and --drop-orphans never drops a live tenant database, whatever row it finds it through', async () => {
      const slug = await create();
      const live = `${prefix}_${slug}`;
      // A registry from before identities, in which the same server was registered twice.
      await inRegistry(ws, async (knex) => {
        await knex('tenantctl_servers').update({ identity: null });
        const main = await knex('tenantctl_servers').where({ name: 'main' }).first();
        await knex('tenantctl_servers').insert({ ...main, id: undefined, name: 'alias', host: 'localhost' });
      });
      expect((await ws.json(['server', 'show', 'main'])).data.reachable).toBe(true); // first contact: recorded
      const alias = (await ws.json(['server', 'show', 'alias'])).data;
      expect(alias.reachable).toBe(false);
      expect(alias.error).toBe('registered twice');
      const doctor = await ws.json(['doctor']);
      expect(doctor.data.findings.find((f: { kind: string }) => f.kind === 'server_identity')).toMatchObject({
        server: 'alias',
      });

      // Even with the check defeated in the registry itself (both rows claiming the identity), the
      // tenant's database is no orphan of either row; a real orphan is backed up, then dropped.
      await inRegistry(ws, async (knex) => {
        await knex.raw('drop index tenantctl_servers_identity_unique');
        const { identity } = await knex('tenantctl_servers').where({ name: 'main' }).first();
        await knex('tenantctl_servers').where({ name: 'alias' }).update({ identity });
      });
      // Ours: the database of a tenant this registry deleted, made again with its mark (a database
      // with its mark and no row at all is unregistered, adopted back, never dropped).
      const goneSlug = await create();
      expect((await ws.run(['delete', goneSlug, '--yes', '--no-backup'])).code).toBe(0);
      const orphan = `${prefix}_${goneSlug}`;
      orphans.push(orphan);
      await ws.probe.createDatabase(orphan);
      await writeMark(engine, ws.probe, orphan, await readMark(engine, ws.probe, live));
      const fixed = await ws.json(['doctor', '--fix', '--drop-orphans', '--yes']);
      const orphanFindings = fixed.data.findings.filter((f: { kind: string }) => f.kind === 'orphan_database');
      expect(orphanFindings.map((f: { target: { name: string } }) => f.target.name)).not.toContain(live);
      expect(await ws.probe.databaseExists(live)).toBe(true);
      const dropped = orphanFindings.filter((f: { target: { name: string } }) => f.target.name === orphan);
      expect(dropped.length).toBeGreaterThan(0);
      expect(dropped[0]).toMatchObject({ fixed: true });
      expect(existsSync(dropped[0].backup)).toBe(true);
      expect(await ws.probe.databaseExists(orphan)).toBe(false);
      expect(readdirSync(join(ws.dir, '.tenantctl', 'backups', '_orphans')).some((f) => f.includes(orphan))).toBe(true);

      expect((await ws.run(['server', 'remove', 'alias'])).code).toBe(0);
    }, 180_000);

    it('refuses a server whose identity changed until the change is confirmed with server update --accept-identity', async () => {
      const slug = await create();
      await inRegistry(ws, (knex) =>
        knex('tenantctl_servers')
          .where({ name: 'main' })
          .update({ identity: `${engine}:another-server` }),
      );
      const refused = await ws.run(['create', ws.slug(), '--server', 'main', '--no-seed']);
      expect(refused.code).toBe(4);
      expect(refused.stderr).toMatch(/not the server registered under that name/);
      expect(refused.stderr).toMatch(/tenantctl server update main --accept-identity/);
      const stats = await ws.json(['stats']);
      expect(stats.result.code).toBe(1);
      expect(stats.data.unreachableServers).toMatchObject([{ server: 'main', reason: 'identity changed' }]);

      const accepted = await ws.json(['server', 'update', 'main', '--accept-identity']);
      expect(accepted.result.code, accepted.result.stderr).toBe(0);
      expect(accepted.data.server.identity).not.toBe(`${engine}:another-server`);
      expect((await ws.run(['stats', slug])).code).toBe(0);
    }, 120_000);
  });
}

describe.skipIf(!selectedEngines().includes('sqlite'))('server identity of a SQLite directory', () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = new Workspace('sqlite');
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it('refuses a second path to the same directory (a symlink)', async () => {
    const directory = join(ws.dir, 'tenants-here');
    mkdirSync(directory);
    symlinkSync(directory, join(ws.dir, 'tenants-link'));
    expect((await ws.run(['server', 'add', 'files', '--url', `sqlite:${directory}`])).code).toBe(0);
    const again = await ws.run(['server', 'add', 'link', '--url', `sqlite:${join(ws.dir, 'tenants-link')}`]);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/same server as "files"/);
  });
});
