import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SECOND_SERVER_URLS, selectedEngines, SERVER_URLS } from '../helpers/engines.js';
import { BIN, cleanEnv } from '../helpers/cli.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');
const SECOND_SERVERS = fileURLToPath(new URL('../servers/second-servers.sh', import.meta.url));
const NETWORK_ENGINES = selectedEngines().filter((e): e is 'postgres' | 'mysql' => e !== 'sqlite');

/** Stops or starts the second instance of an engine (never the main one). */
function second(action: 'start' | 'stop', engine: 'postgres' | 'mysql'): void {
  const result = spawnSync('bash', [SECOND_SERVERS, action === 'start' ? 'start' : `stop-${engine}`], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`second-servers.sh ${action} ${engine}: ${result.stderr}`);
}

const slowMigration = (ms: number) => `
exports.up = async (knex) => {
  await new Promise((resolve) => setTimeout(resolve, ${ms}));
  await knex.schema.createTable('slow_table', (t) => t.increments('id'));
};
exports.down = (knex) => knex.schema.dropTable('slow_table');
`;

for (const engine of NETWORK_ENGINES) {
  describe.skipIf(!reachable.includes(engine))(`many servers on ${engine}`, () => {
    // A naming template of its own, so `doctor` here never sees other test files' databases.
    const prefix = `srv${randomBytes(3).toString('hex')}`;
    let ws: Workspace;
    const created: string[] = [];
    const admin: Record<'main' | 'second', Knex> = {} as never;

    beforeAll(async () => {
      // No TENANTCTL_SERVER_URL: tenantctl places tenants on the servers registered here.
      ws = new Workspace(engine, {
        env: {
          TENANTCTL_SERVER_URL: undefined,
          TENANTCTL_DATABASE_NAME_TEMPLATE: `${prefix}_{slug}`,
          TENANTCTL_USER_NAME_TEMPLATE: `${prefix}_{slug}`,
        },
      });
      for (const [which, url] of [
        ['main', SERVER_URLS[engine]],
        ['second', SECOND_SERVER_URLS[engine]],
      ] as const) {
        const u = new URL(url);
        admin[which] = knexFactory({
          client: engine === 'postgres' ? 'pg' : 'mysql2',
          connection: {
            host: u.hostname,
            port: Number(u.port),
            user: decodeURIComponent(u.username),
            database: engine === 'postgres' ? 'postgres' : undefined,
          },
          pool: { min: 0, max: 1 },
        });
      }
    });
    afterAll(async () => {
      second('start', engine);
      // Tenants live on both servers: drop them on each (quicker than a delete per tenant).
      for (const which of ['main', 'second'] as const) {
        for (const slug of created) {
          const name = `${prefix}_${slug}`;
          if (engine === 'postgres') {
            await admin[which].raw(`drop database if exists "${name}" with (force)`);
            await admin[which].raw(`drop role if exists "${name}"`);
          } else {
            await admin[which].raw(`drop database if exists \`${name}\``);
            await admin[which].raw('drop user if exists ?@?', [name, '%']);
          }
        }
      }
      await Promise.all(Object.values(admin).map((k) => k.destroy()));
      await ws.cleanup();
    }, 120_000);

    const create = async (...args: string[]) => {
      const slug = ws.slug();
      const { result, data } = await ws.json(['create', slug, ...args]);
      expect(result.code, result.stderr).toBe(0);
      created.push(slug);
      return { slug, server: data.tenant.server as string, placement: data.placement as string };
    };
    const databaseOn = async (which: 'main' | 'second', slug: string) => {
      const name = `${prefix}_${slug}`;
      const sql =
        engine === 'postgres'
          ? 'select 1 from pg_database where datname = ?'
          : 'select 1 from information_schema.schemata where schema_name = ?';
      const result = await admin[which].raw(sql, [name]);
      return (engine === 'postgres' ? result.rows : result[0]).length > 0;
    };

    it('registers servers after checking them; refuses duplicates, bad URLs and unreachable servers without recording them', async () => {
      const first = await ws.json(['server', 'add', 'main', '--url', SERVER_URLS[engine]]);
      expect(first.result.code, first.result.stderr).toBe(0);
      expect(first.data.server).toMatchObject({ name: 'main', engine, status: 'active', tenants: 0 });
      expect(first.data.version).toMatch(engine === 'postgres' ? /PostgreSQL/ : /MariaDB|MySQL/);
      const added = await ws.json([
        'server',
        'add',
        'second',
        '--url',
        SECOND_SERVER_URLS[engine],
        '--label',
        'region=eu',
      ]);
      expect(added.result.code, added.result.stderr).toBe(0);

      expect((await ws.run(['server', 'add', 'main', '--url', SERVER_URLS[engine]])).code).toBe(4);
      expect((await ws.run(['server', 'add', 'again', '--url', SERVER_URLS[engine]])).code).toBe(4); // same address
      expect((await ws.run(['server', 'add', 'bad', '--url', 'oracle://x@y/z'])).code).toBe(2);
      const refused = await ws.run(['server', 'add', 'nowhere', '--url', `${engine}://root@127.0.0.1:1/postgres`]);
      expect(refused.code).toBe(5);
      expect(refused.stderr).toContain('"nowhere" (127.0.0.1:1) is unreachable: connection refused');

      const list = await ws.json(['server', 'list']);
      expect(list.data.map((s: { name: string; reachable: boolean }) => [s.name, s.reachable])).toEqual([
        ['main', true],
        ['second', true],
      ]);
      expect(list.data[1].labels).toEqual({ region: 'eu' });
    }, 300_000);

    it('a password is never needed on the command line, and one in --url is warned about', async () => {
      const viaStdin = spawnSync(process.execPath, [BIN, 'server', 'update', 'main', '--password-stdin', '--json'], {
        cwd: ws.dir,
        input: '\n',
        env: cleanEnv(ws.env),
        encoding: 'utf8',
      });
      expect(viaStdin.status, viaStdin.stderr).toBe(0);
      const url = new URL(SERVER_URLS[engine]);
      url.password = 'not-a-real-password';
      const warned = await ws.run(['server', 'update', 'main', '--url', url.toString()]);
      expect(warned.stderr).toContain('visible to other users of this machine');
      if (engine === 'mysql') {
        // MariaDB checks it: refused, and the old credentials stay.
        expect(warned.code).toBe(5);
        expect(warned.stderr).toContain('login refused');
        expect((await ws.json(['server', 'show', 'main'])).data.reachable).toBe(true);
      } else {
        // The test PostgreSQL trusts local logins: stored, encrypted, never shown.
        expect(warned.code, warned.stderr).toBe(0);
        const shown = await ws.json(['server', 'show', 'main']);
        expect(JSON.stringify(shown.data)).not.toContain('not-a-real-password');
      }
    }, 300_000);

    it('places six tenants three and three, never on a draining server, and by label', async () => {
      const placed = [];
      for (let i = 0; i < 6; i++) placed.push(await create());
      expect(placed.filter((p) => p.server === 'main')).toHaveLength(3);
      expect(placed.filter((p) => p.server === 'second')).toHaveLength(3);
      expect(placed[0]!.placement).toContain('fewest tenants');
      for (const p of placed) expect(await databaseOn(p.server === 'main' ? 'main' : 'second', p.slug)).toBe(true);

      expect((await ws.json(['server', 'drain', 'second'])).data.changed).toBe(true);
      expect((await ws.json(['server', 'drain', 'second'])).data.changed).toBe(false);
      const whileDraining = [await create(), await create()];
      expect(whileDraining.map((p) => p.server)).toEqual(['main', 'main']);
      const labelled = await ws.run(['create', ws.slug(), '--server-label', 'region=eu']);
      expect(labelled.code).toBe(4); // the only eu server is draining
      expect(labelled.stderr).toContain('draining');
      await ws.run(['server', 'undrain', 'second']);
      const eu = await create('--server-label', 'region=eu');
      expect(eu.server).toBe('second');
      const named = await create('--server', 'main');
      expect(named.server).toBe('main');

      // A server at capacity takes no more; no server can: exit 4 and nothing recorded.
      await ws.run(['server', 'update', 'second', '--max-tenants', '4']);
      const full = ws.slug();
      const refused = await ws.run(['create', full, '--server', 'second']);
      expect(refused.code).toBe(4);
      expect(refused.stderr).toContain('capacity');
      expect((await ws.run(['show', full])).code).toBe(3);
      await ws.run(['server', 'update', 'second', '--max-tenants', 'none']);
      expect((await ws.json(['server', 'show', 'second'])).data.maxTenants).toBeNull();

      const remove = await ws.run(['server', 'remove', 'second']);
      expect(remove.code).toBe(4);
      expect(remove.stderr).toContain('live tenant');
    }, 300_000);

    it('keeps each server within its own limit while both progress side by side', async () => {
      writeFileSync(join(ws.dir, 'migrations', '20240301000000_slow.js'), slowMigration(300));
      const ours = created.map((s) => `${prefix}_${s}`);
      const count = async (which: 'main' | 'second') => {
        if (engine === 'postgres') {
          // Sessions at work: a backend whose client has just gone (a finished tenant's) stays
          // listed, idle, for a moment after it, and is no tenant being migrated.
          const r = await admin[which].raw(
            "select count(*) as n from pg_stat_activity where datname = any(?) and state is distinct from 'idle'",
            [ours],
          );
          return Number(r.rows[0].n);
        }
        const [rows] = await admin[which].raw(
          `select count(*) as n from information_schema.processlist where db in (${ours.map(() => '?').join(',')})`,
          ours,
        );
        return Number(rows[0].n);
      };
      const run = ws.start(['migrate-all', '--concurrency', '4', '--per-server', '1', '--json']);
      const peak = { main: 0, second: 0 };
      let finished = false;
      void run.done.then(() => (finished = true));
      while (!finished) {
        const [m, s] = await Promise.all([count('main'), count('second')]);
        peak.main = Math.max(peak.main, m);
        peak.second = Math.max(peak.second, s);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const result = await run.done;
      expect(result.code, result.stderr).toBe(0);
      expect(JSON.parse(result.stdout).counts.migrated).toBe(created.length);
      expect(peak.main).toBe(1); // seen at work, never more than its limit
      expect(peak.second).toBe(1);
    }, 300_000);

    it('with one server down: fleet commands go on with the other and exit 1; one-tenant commands exit 5 naming it', async () => {
      const onSecond = (await ws.json(['list'])).data
        .filter((t: { server: string }) => t.server === 'second')
        .map((t: { slug: string }) => t.slug);
      const onMain = created.filter((s) => !onSecond.includes(s));
      const victim = onSecond[0]!;
      expect((await ws.run(['backup', victim])).code).toBe(0);
      writeFileSync(
        join(ws.dir, 'migrations', '20240401000000_more.js'),
        "exports.up = (k) => k.schema.createTable('more', (t) => t.increments('id'));\nexports.down = (k) => k.schema.dropTable('more');\n",
      );
      second('stop', engine);
      try {
        const migrated = await ws.json(['migrate-all']);
        expect(migrated.result.code).toBe(1);
        expect(migrated.data.counts.migrated).toBe(onMain.length);
        expect(migrated.data.counts.unreachable).toBe(onSecond.length);
        expect(migrated.data.unreachableServers).toEqual([
          expect.objectContaining({ server: 'second', reason: 'connection refused', tenants: onSecond.length }),
        ]);
        const human = await ws.run(['migrate-all', '--retry-failed']);
        expect(human.code).toBe(1);
        expect(human.stdout.match(/server second \(/g)).toHaveLength(1); // named once, not per tenant

        const stats = await ws.json(['stats']);
        expect(stats.result.code).toBe(1);
        for (const t of stats.data.tenants) {
          if (onSecond.includes(t.slug)) expect(t).toMatchObject({ reachable: false, sizeBytes: null });
          else expect(t.sizeBytes).toBeGreaterThan(0);
        }
        const doctor = await ws.json(['doctor']);
        expect(doctor.result.code).toBe(1);
        expect(doctor.data.findings).toContainEqual(
          expect.objectContaining({ kind: 'server_unreachable', server: 'second' }),
        );
        const status = await ws.json(['migrate-status']);
        expect(status.result.code).toBe(1);
        expect(status.data.summary.unknown).toBe(onSecond.length);
        const list = await ws.json(['server', 'list']);
        expect(list.result.code).toBe(0);
        expect(list.data.find((s: { name: string }) => s.name === 'second')).toMatchObject({
          reachable: false,
          error: 'connection refused',
        });

        // Placement passes over the stopped server.
        const placed = await create();
        expect(placed.server).toBe('main');
        expect(placed.placement).toContain('second: unreachable');

        for (const args of [
          ['suspend', victim],
          ['reactivate', victim],
          ['migrate', victim],
          ['rollback', victim],
          ['backup', victim],
          ['stats', victim],
          ['restore', victim, '--latest', '--force'],
          ['delete', victim, '--yes'],
        ]) {
          const result = await ws.run(args);
          expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(5);
          expect(result.stderr, args.join(' ')).toContain(
            `"second" (127.0.0.1:${new URL(SECOND_SERVER_URLS[engine]).port}) is unreachable: connection refused`,
          );
          expect(result.stderr).not.toContain('please report it');
        }
      } finally {
        second('start', engine);
      }
      // Back up: the tenants the outage left out are migrated now; the others are up to date.
      const retried = await ws.json(['migrate-all']);
      expect(retried.result.code, retried.result.stderr).toBe(0);
      expect(retried.data.counts.migrated).toBe(onSecond.length);
    }, 300_000);

    it('a server that accepts connections but never answers times out within the connect timeout', async () => {
      const silent: Server = createServer(() => {}); // accepts, says nothing
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      const port = (silent.address() as { port: number }).port;
      try {
        const started = Date.now();
        const result = await ws.run(
          ['server', 'add', 'silent', '--url', `${engine}://root@127.0.0.1:${port}/postgres`],
          { TENANTCTL_CONNECT_TIMEOUT: '1' },
        );
        expect(result.code).toBe(5);
        expect(result.stderr).toContain('timed out');
        expect(Date.now() - started).toBeLessThan(15_000);
      } finally {
        silent.close();
      }
    }, 300_000);

    it('every command exits 5 with one line when the registry cannot be reached', async () => {
      const registry = `${engine}://root@127.0.0.1:1/tenantctl`;
      for (const args of [
        ['list'],
        ['create', ws.slug()],
        ['stats'],
        ['migrate-all'],
        ['backup', '--all'],
        ['doctor'],
        ['server', 'list'],
        ['suspend', 'x'],
      ]) {
        const result = await ws.run(args, { TENANTCTL_REGISTRY_URL: registry });
        expect(result.code, `${args.join(' ')}: ${result.stderr}`).toBe(5);
        expect(result.stderr).toContain('cannot reach the registry database');
        expect(result.stderr).not.toContain('please report it');
      }
    }, 300_000);
  });
}
