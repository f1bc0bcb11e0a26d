import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SECOND_SERVER_URLS, SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { adminOn, holdTableLock, lockWaiters } from '../helpers/table-lock.js';
import { waitFor } from '../helpers/wait-for.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

type Outcome = { slug: string; server: string; outcome: string; movedFrom?: string };

/**
 * A fleet run lists its tenants first and acts on them later; another tenantctl moving a tenant in
 * between must not make it act on the retired copy. Deterministic without hooks: the run is held
 * at its first tenant by a lock the test holds on that tenant's `users` table (concurrency 1, so
 * the second tenant waits its turn), the move of the second tenant runs meanwhile, then the lock goes.
 */
for (const engine of selectedEngines().filter((e): e is 'postgres' | 'mysql' => e !== 'sqlite')) {
  describe.skipIf(!reachable.includes(engine))(`a fleet run whose list went stale, on ${engine}`, () => {
    const urls = { main: SERVER_URLS[engine], second: SECOND_SERVER_URLS[engine] };
    let ws: Workspace;
    const moved: string[] = [];
    beforeAll(async () => {
      ws = new Workspace(engine, { env: { TENANTCTL_SERVER_URL: undefined } });
      for (const [name, url] of Object.entries(urls)) {
        const added = await ws.run(['server', 'add', name, '--url', url]);
        expect(added.code, added.stderr).toBe(0);
      }
    });
    afterAll(async () => {
      // Moved tenants live on the second server (their retired copies on the main one, dropped by cleanup).
      const second = adminOn(engine, urls.second);
      try {
        for (const slug of moved) {
          const { database, user } = ws.names(slug);
          if (engine === 'postgres') {
            await second.raw(`drop database if exists "${database}" with (force)`);
            await second.raw(`drop role if exists "${user}"`);
          } else {
            await second.raw(`drop database if exists \`${database}\``);
            await second.raw('drop user if exists ?@?', [user, '%']);
          }
        }
      } finally {
        await second.destroy();
      }
      await ws.cleanup();
    });

    const tenants = async (...prefixes: string[]) => {
      const slugs = prefixes.map((p) => ws.slug(p));
      for (const slug of slugs) {
        const created = await ws.run(['create', slug, '--server', 'main', '--no-seed']);
        expect(created.code, created.stderr).toBe(0);
      }
      return slugs;
    };
    const users = async (server: 'main' | 'second', slug: string, insert?: string) => {
      const db = adminOn(engine, urls[server], ws.names(slug).database);
      try {
        if (insert) await db('users').insert({ email: insert, name: insert });
        return Number((await db('users').count({ n: '*' }).first())!.n);
      } finally {
        await db.destroy();
      }
    };
    const applied = async (server: 'main' | 'second', slug: string) => {
      const db = adminOn(engine, urls[server], ws.names(slug).database);
      try {
        return (await db('knex_migrations').pluck('name')) as string[];
      } finally {
        await db.destroy();
      }
    };
    /**
     * Runs `args` (a fleet run over a, then b), holds it at a, moves b to the second server
     * (keeping the retired copy on the main one), writes a row to b where it now lives, then
     * lets the run go on.
     */
    const runWhileBMoves = async (a: string, b: string, args: string[]) => {
      const lock = await holdTableLock(engine, urls.main, ws.names(a).database, 'users');
      const run = ws.start([...args, '--concurrency', '1', '--json']);
      try {
        await waitFor(async () => (await lockWaiters(engine, urls.main, ws.names(a).database)) > 0);
        const move = await ws.run(['move', b, '--to', 'second', '--keep-source']);
        expect(move.code, move.stderr).toBe(0);
        moved.push(b);
        await users('second', b, 'written-after-the-move@example.test');
      } finally {
        await lock.release();
      }
      const result = await run.done;
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout);
    };

    it('backup --all backs up where the tenant lives now, not the copy it was moved from', async () => {
      const [a, b] = await tenants('a', 'b');
      await users('main', b!, 'before@example.test');
      const data = await runWhileBMoves(a!, b!, ['backup', '--all']);
      const outcome = data.tenants.tenants.find((t: Outcome) => t.slug === b);
      expect(outcome).toMatchObject({ outcome: 'ok', server: 'second', movedFrom: 'main' });
      // The backup holds the row written on the new server after the move; the retired copy lacks it.
      const live = await users('second', b!);
      expect(await users('main', b!)).toBe(live - 1);
      // PostgreSQL names tables with their schema.
      const usersIn = (counts: Record<string, number>) => counts['public.users'] ?? counts.users;
      expect(usersIn(outcome.backup.rowCounts)).toBe(live);
      const latest = (await ws.json(['backups', b!])).data[0];
      expect(usersIn(latest.rowCounts)).toBe(live);
    }, 300_000);

    it('migrate-all migrates where the tenant lives now; the retired copy is left alone', async () => {
      const [a, b] = await tenants('a', 'b');
      const migration = '20990101000000_stale_list_column.js';
      writeFileSync(
        join(ws.dir, 'migrations', migration),
        "exports.up = (knex) => knex.schema.alterTable('users', (t) => t.string('stale_list'));\nexports.down = (knex) => knex.schema.alterTable('users', (t) => t.dropColumn('stale_list'));\n",
      );
      const data = await runWhileBMoves(a!, b!, ['migrate-all', '--tenants', `${a},${b}`, '--lock-timeout', '10m']);
      expect(data.tenants.map((t: Outcome) => [t.slug, t.outcome, t.server])).toEqual([
        [a, 'migrated', 'main'],
        [b, 'migrated', 'second'],
      ]);
      expect(data.tenants[1].movedFrom).toBe('main');
      expect(await applied('second', b!)).toContain(migration);
      expect(await applied('main', b!)).not.toContain(migration);
    }, 300_000);

    it('a run asked for one server reports a tenant moved off it as moved, and leaves it alone', async () => {
      const [a, b] = await tenants('a', 'b');
      const migration = '20990101000001_moved_off_column.js';
      writeFileSync(
        join(ws.dir, 'migrations', migration),
        "exports.up = (knex) => knex.schema.alterTable('users', (t) => t.string('moved_off'));\nexports.down = (knex) => knex.schema.alterTable('users', (t) => t.dropColumn('moved_off'));\n",
      );
      const data = await runWhileBMoves(a!, b!, [
        'migrate-all',
        '--tenants',
        `${a},${b}`,
        '--server',
        'main',
        '--lock-timeout',
        '10m',
      ]);
      expect(data.tenants.map((t: Outcome) => [t.slug, t.outcome])).toEqual([
        [a, 'migrated'],
        [b, 'moved'],
      ]);
      expect(await applied('second', b!)).not.toContain(migration);
      expect(await applied('main', b!)).not.toContain(migration);
    }, 300_000);
  });
}
