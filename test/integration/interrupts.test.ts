import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { adminOn, holdTableLock, lockWaiters } from '../helpers/table-lock.js';
import { waitFor } from '../helpers/wait-for.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

type Outcome = { slug: string; outcome: string; error?: string; cut?: boolean };

/**
 * Ctrl-C and SIGTERM to real fleet runs. Each run is stopped at a known tenant without any hook in
 * tenantctl: the test holds a lock on that tenant's `users` table, as a long transaction of the
 * application would, so the run is really waiting on the server when the signal comes.
 */
for (const engine of selectedEngines().filter((e): e is 'postgres' | 'mysql' => e !== 'sqlite')) {
  describe.skipIf(!reachable.includes(engine))(`signals to fleet runs on ${engine}`, () => {
    const url = SERVER_URLS[engine];
    let ws: Workspace;
    let migrationNumber = 0;
    beforeAll(() => {
      ws = new Workspace(engine);
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    const tenants = async (...prefixes: string[]) => {
      const slugs = prefixes.map((p) => ws.slug(p));
      for (const slug of slugs) {
        const created = await ws.run(['create', slug, '--no-seed']);
        expect(created.code, created.stderr).toBe(0);
      }
      return slugs;
    };
    /** A migration touching `users`, new to every tenant created so far. */
    const newMigration = () => {
      const name = `2099010100${String(++migrationNumber).padStart(4, '0')}_nickname_${migrationNumber}.js`;
      const column = `nickname_${migrationNumber}`;
      writeFileSync(
        join(ws.dir, 'migrations', name),
        `exports.up = (knex) => knex.schema.alterTable('users', (t) => t.string('${column}'));\nexports.down = (knex) => knex.schema.alterTable('users', (t) => t.dropColumn('${column}'));\n`,
      );
      return name;
    };
    const applied = async (slug: string) => {
      const db = adminOn(engine, url, ws.names(slug).database);
      try {
        return (await db('knex_migrations').pluck('name')) as string[];
      } finally {
        await db.destroy();
      }
    };
    /** Starts a command and collects its stderr as it comes. */
    const start = (args: string[]) => {
      const run = ws.start(args);
      let stderr = '';
      run.child.stderr!.on('data', (chunk) => (stderr += chunk));
      return { ...run, stderr: () => stderr };
    };
    const blocked = (slug: string) =>
      waitFor(async () => (await lockWaiters(engine, url, ws.names(slug).database)) > 0);

    it('SIGINT to migrate-all: the tenant under way finishes, no other starts, every outcome is recorded, exit 130; --resume does the rest once', async () => {
      const [a, b, c] = await tenants('a', 'b', 'c');
      const migration = newMigration();
      const lock = await holdTableLock(engine, url, ws.names(a!).database, 'users');
      const run = start([
        'migrate-all',
        '--tenants',
        `${a},${b},${c}`,
        '--concurrency',
        '1',
        '--lock-timeout',
        '10m',
        '--json',
      ]);
      try {
        await blocked(a!);
        run.child.kill('SIGINT');
        await waitFor(async () => run.stderr().includes('starting no more tenants'));
      } finally {
        await lock.release();
      }
      const result = await run.done;
      expect(result.code, result.stderr).toBe(130);
      const data = JSON.parse(result.stdout);
      expect(data.interrupted).toBe('SIGINT');
      expect(data.tenants.map((t: Outcome) => [t.slug, t.outcome])).toEqual([
        [a, 'migrated'],
        [b, 'skipped'],
        [c, 'skipped'],
      ]);
      expect(data.tenants[1].error).toMatch(/not started: stopped by SIGINT/);
      expect(await applied(a!)).toContain(migration);
      expect(await applied(b!)).not.toContain(migration);

      const shown = await ws.json(['runs', 'show', String(data.runId)]);
      expect(shown.data.status).toBe('interrupted');
      const recorded = shown.data.byWave.flatMap((w: { tenants: Outcome[] }) => w.tenants);
      expect(recorded.map((t: Outcome) => [t.slug, t.outcome]).sort()).toEqual(
        [
          [a, 'migrated'],
          [b, 'skipped'],
          [c, 'skipped'],
        ].sort(),
      );

      const resumed = await ws.json(['migrate-all', '--resume', String(data.runId)]);
      expect(resumed.result.code, resumed.result.stderr).toBe(0);
      expect(resumed.data.tenants.map((t: Outcome) => [t.slug, t.outcome])).toEqual([
        [b, 'migrated'],
        [c, 'migrated'],
      ]);
      for (const slug of [a!, b!, c!]) expect((await applied(slug)).filter((n) => n === migration)).toHaveLength(1);
    }, 180_000);

    it('SIGTERM twice to migrate-all: the second cuts the tenant under way at once (nothing applied), exit 130', async () => {
      const [a, b] = await tenants('a', 'b');
      const migration = newMigration();
      const lock = await holdTableLock(engine, url, ws.names(a!).database, 'users');
      let result;
      try {
        const run = start([
          'migrate-all',
          '--tenants',
          `${a},${b}`,
          '--concurrency',
          '1',
          '--lock-timeout',
          '10m',
          '--json',
        ]);
        await blocked(a!);
        run.child.kill('SIGTERM');
        await waitFor(async () => run.stderr().includes('starting no more tenants'));
        run.child.kill('SIGTERM');
        // Exits while the lock is still held: the cut does not wait for the migration.
        result = await run.done;
      } finally {
        await lock.release();
      }
      expect(result.code, result.stderr).toBe(130);
      const data = JSON.parse(result.stdout);
      expect(data.tenants.map((t: Outcome) => [t.slug, t.outcome, Boolean(t.cut)])).toEqual([
        [a, 'failed', true],
        [b, 'skipped', false],
      ]);
      expect((await ws.json(['runs', 'show', String(data.runId)])).data.status).toBe('interrupted');
      // The cut session is gone from the server and its migration rolled back (or never ran).
      await waitFor(async () => (await lockWaiters(engine, url, ws.names(a!).database)) === 0);
      expect(await applied(a!)).not.toContain(migration);
    }, 180_000);

    it('records each outcome as its tenant finishes, while the run is still going (at most a second behind)', async () => {
      const [a, b] = await tenants('a', 'b');
      newMigration();
      const lock = await holdTableLock(engine, url, ws.names(b!).database, 'users');
      const run = start([
        'migrate-all',
        '--tenants',
        `${a},${b}`,
        '--concurrency',
        '1',
        '--lock-timeout',
        '10m',
        '--json',
      ]);
      try {
        await blocked(b!);
        const runs = (await ws.json(['runs'])).data as Array<{ id: number; status: string }>;
        const id = runs.find((r) => r.status === 'running')!.id;
        // b is still waiting: a's outcome is in the registry already.
        await waitFor(async () => {
          const shown = (await ws.json(['runs', 'show', String(id)])).data;
          return shown.byWave.some((w: { tenants: Outcome[] }) =>
            w.tenants.some((t) => t.slug === a && t.outcome === 'migrated'),
          );
        }, 20_000);
        expect(await lockWaiters(engine, url, ws.names(b!).database)).toBeGreaterThan(0);
      } finally {
        await lock.release();
      }
      const result = await run.done;
      expect(result.code, result.stderr).toBe(0);
    }, 180_000);

    it('SIGINT to backup --all: the dump under way finishes, no other starts, exit 130', async () => {
      const [a, b, c] = await tenants('a', 'b', 'c');
      const lock = await holdTableLock(engine, url, ws.names(a!).database, 'users');
      const run = start(['backup', '--all', '--concurrency', '1', '--json']);
      try {
        await blocked(a!);
        run.child.kill('SIGINT');
        await waitFor(async () => run.stderr().includes('starting no more tenants'));
      } finally {
        await lock.release();
      }
      const result = await run.done;
      expect(result.code, result.stderr).toBe(130);
      const data = JSON.parse(result.stdout);
      expect(data.interrupted).toBe('SIGINT');
      const ours = data.tenants.tenants.filter((t: Outcome) => [a, b, c].includes(t.slug));
      expect(ours.map((t: Outcome) => [t.slug, t.outcome])).toEqual([
        [a, 'ok'],
        [b, 'skipped'],
        [c, 'skipped'],
      ]);
      expect((await ws.json(['backups', a!])).data.map((x: { status: string }) => x.status)).toEqual(['ok']);
      expect((await ws.json(['backups', b!])).data).toEqual([]);
    }, 180_000);

    it('SIGTERM twice to backup --all: the dump under way is cut, its record says interrupted and no file is left, exit 130', async () => {
      const [a] = await tenants('a');
      const lock = await holdTableLock(engine, url, ws.names(a!).database, 'users');
      let result;
      try {
        const run = start(['backup', a!, '--json']);
        await blocked(a!);
        run.child.kill('SIGTERM');
        await waitFor(async () => run.stderr().includes('starting no more tenants'));
        run.child.kill('SIGTERM');
        result = await run.done;
      } finally {
        await lock.release();
      }
      expect(result.code, result.stderr).toBe(130);
      const outcome = JSON.parse(result.stdout).tenants.tenants[0];
      expect(outcome).toMatchObject({ slug: a, outcome: 'failed' });
      expect(outcome.error).toMatch(/cut \(SIGTERM\)/);
      const backups = (await ws.json(['backups', a!])).data as Array<{ status: string }>;
      expect(backups.map((x) => x.status)).toEqual(['interrupted']);
      const directory = join(ws.dir, '.tenantctl', 'backups', a!);
      expect(existsSync(directory) ? readdirSync(directory) : []).toEqual([]);
    }, 180_000);
  });
}
