import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { OwnPostgres } from '../helpers/own-postgres.js';
import { adminOn, holdTableLock, lockWaiters } from '../helpers/table-lock.js';
import { waitFor } from '../helpers/wait-for.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

type Outcome = { slug: string; outcome: string; cut?: boolean; error?: string };

/**
 * The registry is a PostgreSQL instance this file makes itself (port 5450), so it can restart it
 * while a migrate-all runs; the tenants live on the shared test servers, which are never touched.
 * The run is held at its first tenant by a lock on that tenant's `users` table when the registry
 * restarts (no hook in tenantctl).
 */
describe.skipIf(!reachable.includes('postgres'))('the registry restarting under a migrate-all', () => {
  const registry = new OwnPostgres(5450);
  beforeAll(() => {
    registry.start();
    // A registry database per engine of the tenants: each workspace has its own key.
    const admin = adminOn('postgres', registry.url);
    return admin
      .raw('create database tenantctl_postgres')
      .then(() => admin.raw('create database tenantctl_mysql'))
      .finally(() => admin.destroy());
  }, 120_000);
  afterAll(() => registry.destroy());

  for (const engine of selectedEngines().filter((e): e is 'postgres' | 'mysql' => e !== 'sqlite')) {
    describe.skipIf(!reachable.includes(engine))(`tenants on ${engine}`, () => {
      const url = SERVER_URLS[engine];
      let ws: Workspace;
      beforeAll(() => {
        ws = new Workspace(engine, {
          env: {
            TENANTCTL_REGISTRY_URL: registry.database(`tenantctl_${engine}`),
            TENANTCTL_SECRET_KEY: randomBytes(32).toString('hex'),
          },
        });
      });
      afterAll(async () => {
        await ws.cleanup();
      });

      it('stops at once when the registry session (and the run lock with it) is lost, records what it did, exits 5; --resume migrates each tenant once', async () => {
        const slugs = [ws.slug('a'), ws.slug('b'), ws.slug('c')];
        for (const slug of slugs) {
          const created = await ws.run(['create', slug, '--no-seed']);
          expect(created.code, created.stderr).toBe(0);
        }
        const [a] = slugs;
        const migration = `20990101000000_blink_${engine}.js`;
        writeFileSync(
          join(ws.dir, 'migrations', migration),
          "exports.up = (knex) => knex.schema.alterTable('users', (t) => t.string('blink'));\nexports.down = (knex) => knex.schema.alterTable('users', (t) => t.dropColumn('blink'));\n",
        );
        const lock = await holdTableLock(engine, url, ws.names(a!).database, 'users');
        let result;
        try {
          const run = ws.start([
            'migrate-all',
            '--tenants',
            slugs.join(','),
            '--concurrency',
            '1',
            '--lock-timeout',
            '10m',
            '--json',
          ]);
          await waitFor(async () => (await lockWaiters(engine, url, ws.names(a!).database)) > 0);
          registry.restart();
          // The run must end by itself, the tenant's table still locked: it cuts what it had under way.
          result = await run.done;
        } finally {
          await lock.release();
        }
        expect(result.code, result.stderr).toBe(5);
        const data = JSON.parse(result.stdout);
        expect(data.registryLost.error).toMatch(/registry session/);
        expect(data.tenants.map((t: Outcome) => [t.slug, t.outcome])).toEqual([
          [slugs[0], 'failed'],
          [slugs[1], 'skipped'],
          [slugs[2], 'skipped'],
        ]);
        expect(data.tenants[0].cut).toBe(true);
        expect(data.registryLost.unrecorded).toBe(0);
        const shown = (await ws.json(['runs', 'show', String(data.runId)])).data;
        expect(shown.status).toBe('interrupted');
        expect(shown.byWave.flatMap((w: { tenants: Outcome[] }) => w.tenants)).toHaveLength(3);

        const resumed = await ws.json(['migrate-all', '--resume', String(data.runId)]);
        expect(resumed.result.code, resumed.result.stderr).toBe(0);
        expect(resumed.data.tenants.map((t: Outcome) => [t.slug, t.outcome])).toEqual(
          slugs.map((slug) => [slug, 'migrated']),
        );
        for (const slug of slugs) {
          const db = adminOn(engine, url, ws.names(slug).database);
          try {
            const { n } = (await db('knex_migrations').where({ name: migration }).count({ n: '*' }).first())!;
            expect(Number(n)).toBe(1);
          } finally {
            await db.destroy();
          }
        }
      }, 240_000);
    });
  }
});
