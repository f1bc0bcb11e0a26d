import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { withTenantDb } from '../helpers/tenant-db.js';
import { waitFor } from '../helpers/wait-for.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

/** Adds a migration to the workspace's migrations directory, as a developer would. */
function addMigration(ws: Workspace, name: string, body: string): void {
  writeFileSync(join(ws.dir, 'migrations', name), body);
}

const UNIQUE_NAMES = `
exports.up = (knex) => knex.schema.alterTable('users', (t) => t.unique(['name'], { indexName: 'users_name_unique' }));
exports.down = (knex) => knex.schema.alterTable('users', (t) => t.dropUnique(['name'], 'users_name_unique'));
`;

/**
 * A migration that holds its connection for a while, so runs overlap and connections can be
 * counted. It waits before its DDL: MySQL cannot roll DDL back, so a kill after it would leave
 * the table behind (see the README on MySQL and transactional DDL).
 */
const slowMigration = (ms: number) => `
exports.up = async (knex) => {
  await knex.raw('select 1');
  require('node:fs').writeFileSync('migration-started', String(process.pid)); // in the workspace
  await new Promise((resolve) => setTimeout(resolve, ${ms}));
  await knex.schema.createTable('slow_table', (t) => t.increments('id'));
};
exports.down = (knex) => knex.schema.dropTable('slow_table');
`;

async function createTenants(ws: Workspace, count: number): Promise<string[]> {
  const slugs = Array.from({ length: count }, () => ws.slug());
  for (const slug of slugs) {
    const result = await ws.run(['create', slug]);
    expect(result.code, result.stderr).toBe(0);
  }
  return slugs;
}

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`migrate-all on ${engine}`, () => {
    let ws: Workspace;
    afterEach(async () => {
      await ws?.cleanup();
    });

    it('migrates every tenant, reports the broken one without stopping, and --retry-failed fixes it', async () => {
      ws = new Workspace(engine);
      const [a, broken, c] = await createTenants(ws, 3);
      // Data that makes the new migration fail for one tenant only, as real fleets do.
      await withTenantDb(ws, broken!, (db) =>
        db('users').insert([
          { email: 'x1@t.test', name: 'Twin' },
          { email: 'x2@t.test', name: 'Twin' },
        ]),
      );
      addMigration(ws, '20240301000000_unique_user_names.js', UNIQUE_NAMES);

      const { result, data } = await ws.json(['migrate-all']);
      expect(result.code).toBe(1);
      const outcome = Object.fromEntries(data.tenants.map((t: { slug: string }) => [t.slug, t]));
      expect(outcome[a!]).toMatchObject({ outcome: 'migrated', migrations: ['20240301000000_unique_user_names.js'] });
      expect(outcome[c!]).toMatchObject({ outcome: 'migrated' });
      expect(outcome[broken!].outcome).toBe('failed');
      expect(outcome[broken!].error).toMatch(/unique|duplicate/i);
      expect(data.runId).toEqual(expect.any(Number));

      // Stored in the registry: migrate-status shows the failure against the run.
      const status = await ws.json(['migrate-status', broken!]);
      expect(status.data.tenants[0]).toMatchObject({
        pending: ['20240301000000_unique_user_names.js'],
        lastRun: { runId: data.runId, outcome: 'failed' },
      });
      expect(status.data.summary.failedLastRun).toBe(1);

      await withTenantDb(ws, broken!, (db) => db('users').where({ email: 'x2@t.test' }).delete());
      const retry = await ws.json(['migrate-all', '--retry-failed']);
      expect(retry.result.code, retry.result.stderr).toBe(0);
      expect(retry.data.tenants.map((t: { slug: string; outcome: string }) => [t.slug, t.outcome])).toEqual([
        [broken, 'migrated'],
      ]);

      const after = await ws.json(['migrate-status']);
      expect(after.data.summary).toMatchObject({ total: 3, upToDate: 3, withPending: 0, failedLastRun: 0 });
    });

    it('--dry-run lists pending migrations, changes nothing and records no run', async () => {
      ws = new Workspace(engine);
      const [a] = await createTenants(ws, 1);
      addMigration(ws, '20240301000000_unique_user_names.js', UNIQUE_NAMES);
      const dry = await ws.json(['migrate-all', '--dry-run']);
      expect(dry.result.code).toBe(0);
      expect(dry.data).toMatchObject({
        runId: null,
        dryRun: true,
        tenants: [{ slug: a, outcome: 'pending', migrations: ['20240301000000_unique_user_names.js'] }],
      });
      const status = await ws.json(['migrate-status', a!]);
      expect(status.data.tenants[0]).toMatchObject({
        applied: 2,
        pending: ['20240301000000_unique_user_names.js'],
        lastRun: null,
      });
    });

    it('sees a migration undone by hand, and applies it again', async () => {
      ws = new Workspace(engine);
      const [a, b] = await createTenants(ws, 2);
      addMigration(ws, '20240301000000_unique_user_names.js', UNIQUE_NAMES);
      expect((await ws.json(['migrate-all'])).data.counts.migrated).toBe(2);
      // Someone rolls a tenant back outside tenantctl (the knex CLI, or by hand).
      await withTenantDb(ws, a!, async (db) => {
        await db.schema.alterTable('users', (t) => t.dropUnique(['name'], 'users_name_unique'));
        await db('knex_migrations').where({ name: '20240301000000_unique_user_names.js' }).delete();
      });
      const again = await ws.json(['migrate-all']);
      expect(again.result.code, again.result.stderr).toBe(0);
      const outcome = Object.fromEntries(
        again.data.tenants.map((t: { slug: string; outcome: string }) => [t.slug, t.outcome]),
      );
      expect(outcome).toEqual({ [a!]: 'migrated', [b!]: 'up_to_date' });
    });

    it('rolls back the last batch of one tenant, and of all with --all', async () => {
      ws = new Workspace(engine);
      const [a, b] = await createTenants(ws, 2);
      addMigration(ws, '20240301000000_unique_user_names.js', UNIQUE_NAMES);
      expect((await ws.run(['migrate-all'])).code).toBe(0);

      const one = await ws.json(['rollback', a!]);
      expect(one.result.code, one.result.stderr).toBe(0);
      expect(one.data.tenants).toEqual([
        expect.objectContaining({
          slug: a,
          outcome: 'rolled_back',
          migrations: ['20240301000000_unique_user_names.js'],
        }),
      ]);
      const all = await ws.json(['rollback', '--all']);
      const outcome = Object.fromEntries(
        all.data.tenants.map((t: { slug: string; outcome: string; migrations: string[] }) => [t.slug, t]),
      );
      expect(outcome[b!]).toMatchObject({
        outcome: 'rolled_back',
        migrations: ['20240301000000_unique_user_names.js'],
      });
      // a's last batch is now the one create ran: both original migrations.
      expect(outcome[a!].migrations).toHaveLength(2);
      expect((await ws.run(['rollback'])).code).toBe(2);
    });

    it('lets only one run proceed at a time: the second exits 6, or waits with --wait', async () => {
      ws = new Workspace(engine);
      await createTenants(ws, 2);
      addMigration(ws, '20240301000000_slow.js', slowMigration(1500));
      const first = ws.start(['migrate-all', '--json']);
      await waitFor(async () => existsSync(join(ws.dir, 'migration-started')));
      const second = await ws.run(['migrate-all']);
      expect(second.code).toBe(6);
      expect(second.stderr).toMatch(/another migration run is running/);
      const waited = await ws.json(['migrate-all', '--wait', '60']);
      expect(waited.result.code, waited.result.stderr).toBe(0);
      expect(waited.data.counts.up_to_date).toBe(2); // the first run did the work
      expect((await first.done).code).toBe(0);
    });

    it('lets exactly one of several runs started at once proceed', async () => {
      ws = new Workspace(engine);
      await createTenants(ws, 2);
      addMigration(ws, '20240301000000_slow.js', slowMigration(1500));
      const runs = await Promise.all(Array.from({ length: 5 }, () => ws.run(['migrate-all', '--json'])));
      const codes = runs.map((r) => r.code).sort();
      expect(codes, runs.map((r) => r.stderr).join('\n')).toEqual([0, 6, 6, 6, 6]);
      const winner = JSON.parse(runs.find((r) => r.code === 0)!.stdout);
      expect(winner.counts.migrated).toBe(2);
    });

    it('leaves no lock behind when a run is killed, and the next run finishes the work', async () => {
      ws = new Workspace(engine);
      await createTenants(ws, 2);
      addMigration(ws, '20240301000000_slow.js', slowMigration(60_000));
      const killed = ws.start(['migrate-all', '--concurrency', '1']);
      await waitFor(async () => existsSync(join(ws.dir, 'migration-started')));
      expect(await isLocked(ws)).toBe(true);
      killed.child.kill('SIGKILL');
      await killed.done;
      addMigration(ws, '20240301000000_slow.js', slowMigration(0));
      const next = await ws.json(['migrate-all']);
      expect(next.result.code, next.result.stderr).toBe(0);
      expect(next.data.counts.migrated).toBe(2);
    });

    if (engine !== 'sqlite') {
      it('keeps at most concurrency connections open to its tenant databases', async () => {
        ws = new Workspace(engine);
        const slugs = await createTenants(ws, 6);
        addMigration(ws, '20240301000000_slow.js', slowMigration(400));
        const databases = slugs.map((s) => ws.names(s).database);
        const admin = ws.probe.admin(engine === 'postgres' ? 'postgres' : 'information_schema');
        // Only connections to this test's own tenant databases: other test files running at the
        // same time open connections to the same server, and must not make this test fail.
        const count = async (): Promise<number> => {
          if (engine === 'postgres') {
            const r = await admin.raw(
              'select count(*) as n from pg_stat_activity where datname = any(?) and pid <> pg_backend_pid()',
              [databases],
            );
            return Number(r.rows[0].n);
          }
          const [rows] = await admin.raw(
            `select count(*) as n from information_schema.processlist where db in (${databases.map(() => '?').join(',')})`,
            databases,
          );
          return Number(rows[0].n);
        };
        try {
          const run = ws.start(['migrate-all', '--concurrency', '2', '--json']);
          let peak = 0;
          let finished = false;
          void run.done.then(() => (finished = true));
          while (!finished) {
            peak = Math.max(peak, await count());
            await new Promise((resolve) => setTimeout(resolve, 20));
          }
          const result = await run.done;
          expect(result.code, result.stderr).toBe(0);
          expect(JSON.parse(result.stdout).counts.migrated).toBe(6);
          expect(peak).toBeGreaterThanOrEqual(1); // we did see the run at work
          expect(peak).toBeLessThanOrEqual(2);
          await waitFor(async () => (await count()) === 0, 5_000); // and it closed them all
        } finally {
          await admin.destroy();
        }
      }, 180_000); // six tenants created one by one: slow when the machine is busy
    }
  });
}

/**
 * True while some migrate run holds the fleet lock. Asks the way an operator would: a run that
 * selects no tenant (nobody is suspended) still needs the lock, and exits 6 without it.
 */
async function isLocked(ws: Workspace): Promise<boolean> {
  return (await ws.run(['migrate-all', '--status', 'suspended'])).code === 6;
}
