import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { canQuery } from '../helpers/server-probe.js';
import { withSmallDisk } from '../helpers/small-disk.js';
import { waitFor } from '../helpers/wait-for.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

/** The second instance of each engine (test/servers/second-servers.sh). */
const SECOND_URLS = {
  postgres: 'postgres://postgres@127.0.0.1:5433/postgres',
  mysql: 'mysql://root@127.0.0.1:3307',
} as const;
const log = { warn() {}, error() {}, deprecate() {}, debug() {} };

for (const engine of selectedEngines().filter((e): e is 'postgres' | 'mysql' => e !== 'sqlite')) {
  describe.skipIf(!reachable.includes(engine))(`move on ${engine}`, () => {
    const client = engine === 'postgres' ? 'pg' : 'mysql2';
    /** A knex on one server: `a` is the main instance, `b` the second one. */
    const on = (server: 'a' | 'b', database?: string, user?: string, password?: string): Knex => {
      const url = new URL(server === 'a' ? SERVER_URLS[engine] : SECOND_URLS[engine]);
      const connection = {
        host: url.hostname,
        port: Number(url.port),
        user: user ?? decodeURIComponent(url.username),
        password: password ?? '',
        database: database ?? (url.pathname.slice(1) || undefined),
      };
      return knexFactory({ client, connection, pool: { min: 0, max: 1 }, log });
    };
    const rows = (result: any) => (engine === 'postgres' ? result.rows : result[0]);
    const databaseOn = async (server: 'a' | 'b', database: string) => {
      const knex = on(server);
      try {
        const sql =
          engine === 'postgres'
            ? 'select 1 from pg_database where datname = ?'
            : 'select 1 from information_schema.schemata where schema_name = ?';
        return rows(await knex.raw(sql, [database])).length > 0;
      } finally {
        await knex.destroy();
      }
    };
    const roleCanLogin = async (server: 'a' | 'b', user: string): Promise<boolean | null> => {
      const knex = on(server);
      try {
        const found = rows(await knex.raw('select rolcanlogin as ok from pg_roles where rolname = ?', [user]));
        return found.length ? found[0].ok : null;
      } finally {
        await knex.destroy();
      }
    };

    let ws: Workspace;
    beforeAll(async () => {
      ws = new Workspace(engine);
      for (const [name, url] of [
        ['a', SERVER_URLS[engine]],
        ['b', SECOND_URLS[engine]],
        ['other', engine === 'postgres' ? SERVER_URLS.mysql : SERVER_URLS.postgres],
      ]) {
        const added = await ws.run(['server', 'add', name!, '--url', url!]);
        expect(added.code, added.stderr).toBe(0);
      }
    });
    afterAll(async () => {
      for (const slug of slugs) {
        const { database, user } = ws.names(slug);
        const knex = on('b');
        try {
          if (engine === 'postgres') {
            await knex.raw(`drop database if exists "${database}" with (force)`);
            await knex.raw(`drop role if exists "${user}"`);
          } else {
            await knex.raw(`drop database if exists \`${database}\``);
            await knex.raw('drop user if exists ?@?', [user, '%']);
          }
        } finally {
          await knex.destroy();
        }
      }
      await ws.cleanup();
    });
    const slugs: string[] = [];

    /** A tenant on server a with rows in several tables, including a serial key moved past its row count. */
    const tenantWithData = async () => {
      const slug = ws.slug('m');
      slugs.push(slug);
      const created = await ws.run(['create', slug, '--server', 'a']);
      expect(created.code, created.stderr).toBe(0);
      const db = on('a', ws.names(slug).database);
      try {
        await db.schema.createTable('notes', (t) => {
          t.increments('id');
          t.text('body');
          t.decimal('amount', 12, 2);
          t.timestamp('at');
        });
        await db('notes').insert(
          Array.from({ length: 50 }, (_, i) => ({
            body: i % 7 === 0 ? null : `note ${i} ✓`,
            amount: i * 1.25,
            at: new Date(Date.UTC(2024, 0, 1 + i)),
          })),
        );
        await db('notes').where('id', '>', 45).delete(); // the sequence is ahead of the rows
        await db('users').insert(Array.from({ length: 20 }, (_, i) => ({ email: `u${i}@m.test`, name: `User ${i}` })));
        if (engine === 'postgres') await db.raw(`alter table notes owner to "${ws.names(slug).user}"`);
      } finally {
        await db.destroy();
      }
      return slug;
    };
    const contents = async (server: 'a' | 'b', slug: string) => {
      const db = on(server, ws.names(slug).database);
      try {
        return {
          notes: await db('notes').orderBy('id'),
          users: await db('users').orderBy('id').select('id', 'email', 'name'),
          migrations: await db('knex_migrations').orderBy('id').pluck('name'),
        };
      } finally {
        await db.destroy();
      }
    };
    const show = async (slug: string) => (await ws.json(['show', slug, '--show-password'])).data;
    const loginOn = async (server: 'a' | 'b', slug: string, password: string) =>
      canQuery(on(server, ws.names(slug).database, ws.names(slug).user!, password));

    it('moves a tenant with its data identical; its own user logs in on the target only; the downtime is reported', async () => {
      const slug = await tenantWithData();
      const before = await contents('a', slug);
      const oldPassword = (await show(slug)).password;
      const { result, data } = await ws.json(['move', slug, '--to', 'b']);
      expect(result.code, result.stderr).toBe(0);
      expect(data).toMatchObject({ source: 'a', target: 'b', sourceKept: false });
      expect(data.downtimeMs).toBeGreaterThan(0);
      expect(Object.keys(data.steps)).toEqual(['fence', 'copy', 'verify', 'switch', 'unfence', 'retire']);
      expect(data.verified.rows).toBeGreaterThanOrEqual(65);

      expect(await contents('b', slug)).toEqual(before);
      const tenant = await show(slug);
      expect(tenant).toMatchObject({ server: 'b', status: 'active', step: null });
      expect(tenant.password).not.toBe(oldPassword);
      expect(await loginOn('b', slug, tenant.password)).toBe(true);
      expect(await databaseOn('a', ws.names(slug).database)).toBe(false);
      if (engine === 'mysql') expect(await loginOn('a', slug, tenant.password)).toBe(false);
      else expect(await roleCanLogin('a', ws.names(slug).user!)).toBe(null);

      // The serial key continues where the source left it, not after the last row.
      const db = on('b', ws.names(slug).database, ws.names(slug).user!, tenant.password);
      try {
        const [id] = await db('notes').insert({ body: 'after the move' }, ['id']);
        expect(Number(typeof id === 'object' ? id.id : id)).toBe(51);
      } finally {
        await db.destroy();
      }
      const audit = (await ws.json(['log', slug])).data;
      expect(JSON.stringify(audit)).toContain('"move"');
    });

    it('refuses another engine (exit 2) and an unknown server (exit 3), changing nothing', async () => {
      const slug = await tenantWithData();
      const other = await ws.run(['move', slug, '--to', 'other']);
      expect(other.code).toBe(2);
      expect(other.stderr).toMatch(/one engine/);
      expect((await ws.run(['move', slug, '--to', 'nowhere'])).code).toBe(3);
      expect(await show(slug)).toMatchObject({ server: 'a', step: null });
      expect(await databaseOn('b', ws.names(slug).database)).toBe(false);
      expect(await loginOn('a', slug, (await show(slug)).password)).toBe(true);
    });

    it('refuses (exit 4, before the fence) when the backup directory cannot hold the dump; goes once a backup shows it fits', async () => {
      const slug = await tenantWithData();
      // A 64 KB file system for the dumps: smaller than any tenant database on disk.
      await withSmallDisk(64, async (disk) => {
        const env = { TENANTCTL_BACKUP_DIR: join(disk, 'backups') };
        const plan = (await ws.json(['move', slug, '--to', 'b', '--dry-run'], env)).data.plan;
        expect(plan.dumpSpace).toMatchObject({ directory: join(disk, 'backups') });
        expect(plan.dumpSpace.freeBytes).toBeLessThanOrEqual(64 * 1024);
        expect(plan.dumpSpace.neededBytes).toBeGreaterThan(64 * 1024);
        const refused = await ws.run(['move', slug, '--to', 'b'], env);
        expect(refused.code).toBe(4);
        expect(refused.stderr).toMatch(
          /free in .*tenantctl-small-disk-.*no backup yet; a backup first gives a closer estimate/,
        );
        expect(await show(slug)).toMatchObject({ server: 'a', status: 'active', step: null });
        expect(await databaseOn('b', ws.names(slug).database)).toBe(false);
        expect(await loginOn('a', slug, (await show(slug)).password)).toBe(true);

        // A backup's size is the estimate now: a few KB, which the small disk holds.
        expect((await ws.run(['backup', slug], env)).code).toBe(0);
        const moved = await ws.run(['move', slug, '--to', 'b'], env);
        expect(moved.code, moved.stderr).toBe(0);
        expect(await show(slug)).toMatchObject({ server: 'b', status: 'active' });
      });
    });

    it('stops at verify when the target copy differs, and leaves the tenant working on the source', async () => {
      const slug = await tenantWithData();
      const before = await contents('a', slug);
      for (const corrupt of ['notes', 'notes.body']) {
        const failed = await ws.run(['move', slug, '--to', 'b'], { TENANTCTL_TEST_CORRUPT_TARGET: corrupt });
        expect(failed.code).toBe(1);
        expect(failed.stderr).toMatch(
          corrupt === 'notes'
            ? /notes: 45 rows on the source, 44 on the target/
            : /notes: same 45 rows but different content/,
        );
        const tenant = await show(slug);
        expect(tenant).toMatchObject({ server: 'a', status: 'active', step: null });
        expect(tenant.lastError).toMatch(/verify/);
        expect(await databaseOn('b', ws.names(slug).database)).toBe(false);
        expect(await loginOn('a', slug, tenant.password)).toBe(true);
        expect(await contents('a', slug)).toEqual(before);
      }
    }, 120_000);

    for (const step of ['copy', 'switch', 'unfence'] as const) {
      it(`ends with exactly one live, verified copy after a kill -9 at ${step} and a second move`, async () => {
        const slug = await tenantWithData();
        const before = await contents('a', slug);
        const killed = ws.start(['move', slug, '--to', 'b'], { TENANTCTL_TEST_PAUSE_AT: step });
        let stderr = '';
        killed.child.stderr!.on('data', (chunk) => (stderr += chunk));
        await waitFor(async () => stderr.includes(`TENANTCTL_TEST_PAUSED ${step}`), 60_000);
        killed.child.kill('SIGKILL');
        expect((await killed.done).signal).toBe('SIGKILL');

        const halfway = await show(slug);
        if (step === 'unfence') {
          expect(halfway.server).toBe('b'); // switched: the registry points at the verified copy
        } else {
          expect(halfway).toMatchObject({ server: 'a', step: `move:${step}` });
          // Nothing else touches a tenant in the middle of a move.
          expect((await ws.run(['suspend', slug])).code).toBe(4);
          expect((await ws.run(['backup', slug])).code).toBe(4);
          const all = await ws.json(['migrate-all']);
          expect(all.data.tenants.map((t: { slug: string }) => t.slug)).not.toContain(slug);
        }
        // Fenced: the tenant's user cannot log in on either side while the move is unfinished.
        if (engine === 'mysql') expect(await loginOn('a', slug, halfway.password)).toBe(false);
        else expect(await roleCanLogin('a', ws.names(slug).user!)).toBe(false);

        const again = await ws.json(['move', slug]);
        expect(again.result.code, again.result.stderr).toBe(0);
        expect(again.data.resumed).toBe(step === 'unfence' ? 'finished' : 'rolled_back');
        const tenant = await show(slug);
        expect(tenant).toMatchObject({ server: 'b', status: 'active', step: null });
        expect(await contents('b', slug)).toEqual(before);
        expect(await loginOn('b', slug, tenant.password)).toBe(true);
        expect(await databaseOn('a', ws.names(slug).database)).toBe(false);
      }, 180_000);
    }

    it('keeps a locked source with --keep-source (not an orphan) until --drop-source; a suspended tenant stays suspended', async () => {
      const slug = await tenantWithData();
      expect((await ws.run(['suspend', slug])).code).toBe(0);
      const moved = await ws.json(['move', slug, '--to', 'b', '--keep-source']);
      expect(moved.result.code, moved.result.stderr).toBe(0);
      expect(moved.data.sourceKept).toBe(true);
      const tenant = await show(slug);
      expect(tenant).toMatchObject({ server: 'b', status: 'suspended' });
      expect(await loginOn('b', slug, tenant.password)).toBe(false); // suspended on the target too
      expect(await databaseOn('a', ws.names(slug).database)).toBe(true);
      if (engine === 'postgres') expect(await roleCanLogin('a', ws.names(slug).user!)).toBe(false);
      const doctor = await ws.json(['doctor']);
      const orphans = doctor.data.findings.filter(
        (f: { kind: string; message: string }) =>
          f.kind.startsWith('orphan') && f.message.includes(ws.names(slug).database),
      );
      expect(orphans).toEqual([]);

      expect((await ws.run(['move', '--drop-source', slug])).code).toBe(0);
      expect(await databaseOn('a', ws.names(slug).database)).toBe(false);
      expect((await ws.run(['move', '--drop-source', slug])).code).toBe(3);
    });

    it('evacuates a server: every tenant moves, each with its own outcome', async () => {
      const first = await tenantWithData();
      const second = await tenantWithData();
      const plan = await ws.json(['move', first, '--dry-run']);
      expect(plan.result.code, plan.result.stderr).toBe(0);
      expect(plan.data.plan).toMatchObject({ source: 'a', target: 'b', engine });
      expect(plan.data.plan.sizeBytes).toBeGreaterThan(0);
      expect(await databaseOn('b', ws.names(first).database)).toBe(false);

      const { result, data } = await ws.json(['move', '--from-server', 'a', '--concurrency', '2']);
      // Other tests' tenants in this registry may be on a too; ours must be among the moved.
      const ours = data.tenants.filter((t: { slug: string }) => t.slug === first || t.slug === second);
      expect(
        ours.map((t: { outcome: string; target: string }) => [t.outcome, t.target]),
        result.stderr,
      ).toEqual([
        ['moved', 'b'],
        ['moved', 'b'],
      ]);
      for (const slug of [first, second]) expect((await show(slug)).server).toBe('b');
    }, 300_000);

    it('an evacuation never takes a target past its capacity, even with moves running at once', async () => {
      const first = await tenantWithData();
      const second = await tenantWithData();
      const onB = (await ws.json(['server', 'show', 'b'])).data.tenants as number;
      expect((await ws.run(['server', 'update', 'b', '--max-tenants', String(onB + 1)])).code).toBe(0);
      try {
        const { result, data } = await ws.json(['move', '--from-server', 'a', '--concurrency', '2']);
        expect(result.code, result.stderr).toBe(1); // a tenant that could not move is a failure
        // Both moves ran side by side; placement counted the one under way against b's last place.
        const ours = data.tenants.filter((t: { slug: string }) => t.slug === first || t.slug === second);
        expect(ours.map((t: { outcome: string }) => t.outcome).sort()).toEqual(['failed', 'moved']);
        expect(ours.find((t: { outcome: string }) => t.outcome === 'failed').error).toMatch(/capacity/);
        expect((await ws.json(['server', 'show', 'b'])).data.tenants).toBe(onB + 1);
      } finally {
        expect((await ws.run(['server', 'update', 'b', '--max-tenants', 'none'])).code).toBe(0);
      }
    }, 300_000);
  });
}
