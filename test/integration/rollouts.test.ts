import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { withTenantDb } from '../helpers/tenant-db.js';
import { waitFor } from '../helpers/wait-for.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

const PROBE_MIGRATION = '20250101000000_rollout_probe.js';

/**
 * Fails in a tenant that has a `break_me` table, as a migration meets bad data in some tenants;
 * elsewhere creates `rollout_probe`.
 */
const BREAKABLE = `
exports.up = async (knex) => {
  if (await knex.schema.hasTable('break_me')) throw new Error('broken on purpose');
  await knex.schema.createTable('rollout_probe', (t) => t.increments('id'));
};
exports.down = (knex) => knex.schema.dropTableIfExists('rollout_probe');
`;

/** Alters the table the application reads, so it needs the table's lock. */
const ALTER_USERS = `
exports.up = (knex) => knex.schema.alterTable('users', (t) => t.string('nickname'));
exports.down = (knex) => knex.schema.alterTable('users', (t) => t.dropColumn('nickname'));
`;

/** Notes each start in a file of the workspace, then waits before its DDL (MySQL cannot roll DDL back). */
const SLOW = `
exports.up = async (knex) => {
  await knex.raw('select 1');
  require('node:fs').appendFileSync('migration-starts', 'x');
  await new Promise((resolve) => setTimeout(resolve, 400));
  await knex.schema.createTable('rollout_probe', (t) => t.increments('id'));
};
exports.down = (knex) => knex.schema.dropTable('rollout_probe');
`;

/** Waits 20 s on the server in a tenant that has a \`slow_me\` table. */
const SLOW_IN_ONE = `
exports.up = async (knex) => {
  if (await knex.schema.hasTable('slow_me')) await knex.raw(knex.client.config.client === 'pg' ? 'select pg_sleep(20)' : 'select sleep(20)');
  await knex.schema.createTable('rollout_probe', (t) => t.increments('id'));
};
exports.down = (knex) => knex.schema.dropTable('rollout_probe');
`;

function addMigration(ws: Workspace, body: string): void {
  writeFileSync(join(ws.dir, 'migrations', PROBE_MIGRATION), body);
}

/** Creates tenants; returns their slugs in the order fleet commands take them (by slug). */
async function createTenants(ws: Workspace, count: number): Promise<string[]> {
  const slugs = Array.from({ length: count }, () => ws.slug());
  for (const slug of slugs) {
    const result = await ws.run(['create', slug]);
    expect(result.code, result.stderr).toBe(0);
  }
  return slugs.sort();
}

/** Gives a tenant the `break_me` table, owned by its user where it has one (so its migrations see it). */
const breakTenant = (ws: Workspace, slug: string) =>
  withTenantDb(ws, slug, async (db) => {
    await db.schema.createTable('break_me', (t) => t.increments('id'));
    const { user } = ws.names(slug);
    if (ws.engine === 'postgres' && user) await db.raw('alter table break_me owner to ??', [user]);
  });

/** What a user checks in a tenant: is the migration recorded (how many times), is its table there. */
async function applied(ws: Workspace, slug: string): Promise<{ times: number; table: boolean }> {
  return withTenantDb(ws, slug, async (db) => ({
    times: Number((await db('knex_migrations').where({ name: PROBE_MIGRATION }).count({ n: '*' }))[0]!.n),
    table: await db.schema.hasTable('rollout_probe'),
  }));
}

type Outcome = { slug: string; outcome: string; wave?: number; error?: string; lockTimeout?: boolean };
const bySlug = (tenants: Outcome[]) => Object.fromEntries(tenants.map((t) => [t.slug, t]));

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`staged rollouts on ${engine}`, () => {
    let ws: Workspace;
    afterEach(async () => {
      await ws?.cleanup();
    });

    it('--canary 2 with a migration failing everywhere: 2 attempted, the rest skipped, the run halted, nothing applied elsewhere', async () => {
      ws = new Workspace(engine);
      const slugs = await createTenants(ws, 5);
      for (const slug of slugs) await breakTenant(ws, slug);
      addMigration(ws, BREAKABLE);

      const { result, data } = await ws.json(['migrate-all', '--canary', '2']);
      expect(result.code, result.stderr).toBe(1);
      const outcome = bySlug(data.tenants);
      expect(slugs.slice(0, 2).map((s) => outcome[s]!.outcome)).toEqual(['failed', 'failed']);
      expect(slugs.slice(2).map((s) => outcome[s]!.outcome)).toEqual(['skipped', 'skipped', 'skipped']);
      expect(outcome[slugs[0]!]!.wave).toBe(1);
      expect(outcome[slugs[4]!]!.wave).toBe(2);
      expect(data.halted).toMatch(/canary/);
      for (const slug of slugs.slice(2)) expect(await applied(ws, slug)).toEqual({ times: 0, table: false });

      // The registry says so too: `runs` lists it halted, with the reason.
      const runs = await ws.json(['runs']);
      expect(runs.data[0]).toMatchObject({ id: data.runId, status: 'halted', waves: 2, failed: 2, skipped: 3 });
      expect(runs.data[0].reason).toMatch(/canary/);
      expect(runs.data[0].startedBy).toEqual(expect.any(String));
      const shown = await ws.json(['runs', 'show', String(data.runId)]);
      expect(shown.data.byWave.map((w: { wave: number; counts: object }) => [w.wave, w.counts])).toEqual([
        [1, { failed: 2 }],
        [2, { skipped: 3 }],
      ]);
      expect(shown.data.byWave[0].tenants[0].error).toMatch(/broken on purpose/);
    });

    it('--max-failures 2: the run halts, with never more than 2 + (concurrency - 1) failures', async () => {
      ws = new Workspace(engine);
      const slugs = await createTenants(ws, 8);
      const broken = [0, 2, 3, 5, 7].map((i) => slugs[i]!);
      for (const slug of broken) await breakTenant(ws, slug);
      addMigration(ws, BREAKABLE);

      const concurrency = 2;
      const { result, data } = await ws.json([
        'migrate-all',
        '--max-failures',
        '2',
        '--concurrency',
        String(concurrency),
      ]);
      expect(result.code).toBe(1);
      expect(data.counts.failed).toBeGreaterThanOrEqual(2);
      expect(data.counts.failed).toBeLessThanOrEqual(2 + (concurrency - 1));
      expect(data.counts.skipped).toBeGreaterThan(0);
      expect(data.halted).toMatch(/failure budget/);
      for (const t of data.tenants as Outcome[]) {
        if (t.outcome === 'skipped') expect(t.error).toMatch(/halted|budget/);
        if (t.outcome === 'failed') expect(broken).toContain(t.slug);
      }
      const runs = await ws.json(['runs']);
      expect(runs.data[0]).toMatchObject({ id: data.runId, status: 'halted' });

      // --resume picks up the tenants it did not finish: the good ones migrate, the broken fail again.
      for (const slug of broken) await withTenantDb(ws, slug, (db) => db.schema.dropTable('break_me'));
      const resumed = await ws.json(['migrate-all', '--resume', String(data.runId)]);
      expect(resumed.result.code, resumed.result.stderr).toBe(0);
      expect(resumed.data.resumedFrom).toBe(data.runId);
      for (const slug of slugs) expect(await applied(ws, slug)).toEqual({ times: 1, table: true });
    });

    it('waves with --pause: the pause happens, and a failure in wave 1 stops wave 2', async () => {
      ws = new Workspace(engine);
      const slugs = await createTenants(ws, 3);
      addMigration(ws, BREAKABLE);

      const started = Date.now();
      const { result, data } = await ws.json(['migrate-all', '--waves', '1,100%', '--pause', '2s']);
      expect(result.code, result.stderr).toBe(0);
      expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
      expect(data.durationMs).toBeGreaterThanOrEqual(2000);
      expect(data.waves).toEqual([
        { number: 1, name: '1', tenants: 1 },
        { number: 2, name: '100%', tenants: 2 },
      ]);
      expect((data.tenants as Outcome[]).map((t) => [t.wave, t.outcome])).toEqual([
        [1, 'migrated'],
        [2, 'migrated'],
        [2, 'migrated'],
      ]);

      // Roll back with the same waves; then break the first tenant: wave 2 never starts.
      expect((await ws.run(['rollback', '--all', '--waves', '1,100%'])).code).toBe(0);
      await breakTenant(ws, slugs[0]!);
      const second = await ws.json(['migrate-all', '--waves', '1,100%', '--pause', '2s']);
      expect(second.result.code).toBe(1);
      expect(second.data.durationMs).toBeLessThan(2000); // no pause before a wave that does not start
      expect((second.data.tenants as Outcome[]).map((t) => t.outcome)).toEqual(['failed', 'skipped', 'skipped']);
      expect(second.data.halted).toMatch(/wave 1/);
      for (const slug of slugs.slice(1)) expect(await applied(ws, slug)).toEqual({ times: 0, table: false });
    });

    it('waves from the config file select by slug and plan', async () => {
      ws = new Workspace(engine);
      const slugs = await createTenants(ws, 3);
      expect((await ws.run(['update', slugs[2]!, '--plan', 'internal'])).code).toBe(0);
      writeFileSync(
        join(ws.dir, 'tenantctl.config.json'),
        JSON.stringify({
          waves: [
            { name: 'internal', select: { plans: ['internal'] } },
            { name: 'second', select: { slugs: [slugs[1]] }, concurrency: 1 },
          ],
        }),
      );
      addMigration(ws, BREAKABLE);
      const { result, data } = await ws.json(['migrate-all']);
      expect(result.code, result.stderr).toBe(0);
      expect(data.waves.map((w: { name: string; tenants: number }) => [w.name, w.tenants])).toEqual([
        ['internal', 1],
        ['second', 1],
        ['rest', 1],
      ]);
      expect(bySlug(data.tenants)[slugs[2]!]!.wave).toBe(1);
      expect(bySlug(data.tenants)[slugs[0]!]!.wave).toBe(3);
    });

    // Not on MySQL: it cannot roll DDL back, so a migration killed half-way may be half applied.
    if (engine !== 'mysql')
      it('a run killed half-way, then --resume: every tenant ends migrated exactly once', async () => {
        ws = new Workspace(engine);
        const slugs = await createTenants(ws, 6);
        addMigration(ws, SLOW);
        const killed = ws.start(['migrate-all', '--concurrency', '1', '--waves', '2,100%']);
        const starts = join(ws.dir, 'migration-starts');
        await waitFor(async () => existsSync(starts) && readFileSync(starts, 'utf8').length >= 3);
        killed.child.kill('SIGKILL');
        await killed.done;

        const before = (await Promise.all(slugs.map((s) => applied(ws, s)))).filter((a) => a.times === 1).length;
        expect(before).toBeLessThan(slugs.length);
        const runs = await ws.json(['runs']);
        const runId = runs.data[0].id;
        const resumed = await ws.json(['migrate-all', '--resume', String(runId)]);
        expect(resumed.result.code, resumed.result.stderr).toBe(0);
        expect(resumed.data.waves.map((w: { name: string }) => w.name)).toEqual(['2', '100%']);
        for (const slug of slugs) expect(await applied(ws, slug)).toEqual({ times: 1, table: true });
        const after = await ws.json(['runs']);
        expect(after.data.find((r: { id: number }) => r.id === runId).status).toBe('interrupted');
        expect(after.data[0]).toMatchObject({ resumedFrom: runId, status: 'succeeded' });
        // A finished run cannot be resumed.
        expect((await ws.run(['migrate-all', '--resume', String(after.data[0].id)])).code).toBe(4);
      });

    // SQLite has no server session to cut or lock to wait for: these three are for the servers.
    if (engine !== 'sqlite')
      it('--tenant-timeout: a tenant taking longer is stopped and reported failed, without holding up the run', async () => {
        ws = new Workspace(engine);
        const slugs = await createTenants(ws, 3);
        const slow = slugs[0]!;
        await withTenantDb(ws, slow, async (db) => {
          await db.schema.createTable('slow_me', (t) => t.increments('id'));
          const { user } = ws.names(slow);
          if (engine === 'postgres' && user) await db.raw('alter table slow_me owner to ??', [user]);
        });
        addMigration(ws, SLOW_IN_ONE);
        const started = Date.now();
        const { result, data } = await ws.json(['migrate-all', '--tenant-timeout', '2s', '--concurrency', '2']);
        expect(Date.now() - started).toBeLessThan(15_000);
        expect(result.code).toBe(1);
        const outcome = bySlug(data.tenants);
        expect(outcome[slow]).toMatchObject({ outcome: 'failed', timedOut: true });
        expect(outcome[slow]!.error).toMatch(/timed out after 2s/);
        expect(outcome[slugs[1]!]!.outcome).toBe('migrated');
        expect(outcome[slugs[2]!]!.outcome).toBe('migrated');
        if (engine === 'postgres') expect(await applied(ws, slow)).toEqual({ times: 0, table: false });
      });

    if (engine !== 'sqlite')
      it('--lock-timeout 1s: the tenant whose table is locked fails fast with a lock timeout; the others migrate', async () => {
        ws = new Workspace(engine);
        const slugs = await createTenants(ws, 3);
        const locked = slugs[1]!;
        addMigration(ws, ALTER_USERS);
        // The application holds a transaction open on the table the migration alters.
        const app = ws.probe.admin(ws.names(locked).database);
        const trx = await app.transaction();
        try {
          await trx('users').select('id').limit(1);
          const started = Date.now();
          const { result, data } = await ws.json(['migrate-all', '--lock-timeout', '1s']);
          expect(Date.now() - started).toBeLessThan(15_000);
          expect(result.code).toBe(1);
          const outcome = bySlug(data.tenants);
          expect(outcome[locked], JSON.stringify(outcome[locked])).toMatchObject({
            outcome: 'failed',
            lockTimeout: true,
          });
          expect(outcome[locked]!.error).toMatch(/^lock timeout/);
          expect(outcome[slugs[0]!]!.outcome).toBe('migrated');
          expect(outcome[slugs[2]!]!.outcome).toBe('migrated');
          // The application's transaction was never disturbed.
          expect(await trx('users').count({ n: '*' })).toHaveLength(1);
        } finally {
          await trx.rollback();
          await app.destroy();
        }
        // Once the transaction is gone, --retry-failed finishes the work.
        const retry = await ws.json(['migrate-all', '--retry-failed']);
        expect(retry.result.code).toBe(0);
        expect(bySlug(retry.data.tenants)[locked]!.outcome).toBe('migrated');
      });

    if (engine !== 'sqlite')
      it('--lock-retries: a tenant that hit the lock timeout is tried again later, and migrates once the lock is gone', async () => {
        ws = new Workspace(engine);
        const [locked] = await createTenants(ws, 1);
        addMigration(ws, ALTER_USERS);
        const { database } = ws.names(locked!);
        const app = ws.probe.admin(database);
        const watcher = ws.probe.admin(database);
        const trx = await app.transaction();
        try {
          await trx('users').select('id').limit(1);
          const run = ws.start(['migrate-all', '--lock-timeout', '1s', '--lock-retries', '3', '--json']);
          // The first attempt is queued behind the application's transaction…
          const waiting =
            engine === 'postgres'
              ? () =>
                  watcher
                    .raw("select count(*) as n from pg_stat_activity where datname = ? and wait_event_type = 'Lock'", [
                      database,
                    ])
                    .then((r) => Number(r.rows[0].n))
              : () =>
                  watcher
                    .raw(
                      "select count(*) as n from information_schema.processlist where db = ? and state like 'Waiting for table metadata lock'",
                      [database],
                    )
                    .then((r) => Number(r[0][0].n));
          await waitFor(async () => (await waiting()) > 0);
          // …and gives up after 1 s; the transaction ends during the backoff.
          await new Promise((resolve) => setTimeout(resolve, 1300));
          await trx.rollback();
          const result = await run.done;
          expect(result.code, result.stderr).toBe(0);
          expect(JSON.parse(result.stdout).tenants[0]).toMatchObject({ slug: locked, outcome: 'migrated' });
        } finally {
          if (!trx.isCompleted()) await trx.rollback();
          await app.destroy();
          await watcher.destroy();
        }
      });
  });
}
