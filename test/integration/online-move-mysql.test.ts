import { randomUUID } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunOwnMariadb, startOwnMariadb, type OwnMariadb } from '../helpers/own-mariadb.js';
import { selectedEngines } from '../helpers/engines.js';
import { waitFor } from '../helpers/wait-for.js';
import { Workspace } from '../helpers/workspace.js';
import { sqliteKnex } from '../helpers/sqlite-knex.js';
import { join } from 'node:path';

const log = { warn() {}, error() {}, deprecate() {}, debug() {} };

// This file's own ports: the source's, then the target's.
const SOURCE_PORTS = [3390, 3391, 3392];
const TARGET_PORTS = [3393, 3394, 3395];

/**
 * Online moves between two MariaDB instances of this test's own: `src` configured as a move's
 * source (binlog on, ROW format, a server_id of its own), `plain` as MariaDB comes (no binlog),
 * which can be a target but not a source. Both are created here, so the test needs nothing set up.
 */
describe.skipIf(!selectedEngines().includes('mysql') || !canRunOwnMariadb())('online move on mysql', () => {
  let src: OwnMariadb;
  let plain: OwnMariadb;
  let ws: Workspace;

  const on = (server: OwnMariadb, database?: string, user = 'root', password = ''): Knex =>
    knexFactory({
      client: 'mysql2',
      connection: { host: '127.0.0.1', port: server.port, user, password, database },
      pool: { min: 0, max: 1 },
      log,
    });
  const query = async (server: OwnMariadb, sql: string, bindings: unknown[] = []) => {
    const knex = on(server);
    try {
      return (await knex.raw(sql, bindings as never))[0] as any[];
    } finally {
      await knex.destroy();
    }
  };
  /** Replication objects tenantctl named, on a server: replication connections and users. */
  const leftovers = async (server: OwnMariadb) => [
    ...(await query(server, 'show all slaves status')).map((r) => `connection ${r.Connection_name}`),
    ...(await query(server, "select user from mysql.user where user like 'tenantctl\\_move\\_%'")).map(
      (r) => `user ${r.user}`,
    ),
  ];

  beforeAll(async () => {
    [src, plain] = await Promise.all([
      startOwnMariadb({
        ports: SOURCE_PORTS,
        settings: ['--server-id=11', '--log-bin=mysql-bin', '--binlog-format=ROW'],
      }),
      startOwnMariadb({ ports: TARGET_PORTS, settings: ['--server-id=12'] }),
    ]);
    ws = new Workspace('mysql', { env: { TENANTCTL_MOVE_MODE: 'online' } });
    for (const [name, server] of [
      ['src', src],
      ['plain', plain],
    ] as const) {
      const added = await ws.run(['server', 'add', name, '--url', server.url]);
      expect(added.code, added.stderr).toBe(0);
    }
  }, 120_000);
  afterAll(async () => {
    await ws?.cleanup().catch(() => undefined);
    await Promise.all([src?.stop(), plain?.stop()]);
  });

  /** A tenant on `server` with a keyed table (auto increment) and one without a primary key. */
  const tenantOn = async (server: 'src' | 'plain', rows = 30) => {
    const slug = ws.slug('om');
    const created = await ws.run(['create', slug, '--server', server]);
    expect(created.code, created.stderr).toBe(0);
    const { password } = (await ws.json(['show', slug, '--show-password'])).data;
    const db = on(server === 'src' ? src : plain, ws.names(slug).database, ws.names(slug).user!, password);
    try {
      await db.schema.createTable('items', (t) => {
        t.increments('id');
        t.integer('n').notNullable().defaultTo(0);
        t.string('tag', 64).notNullable();
      });
      await db.schema.createTable('events', (t) => {
        t.string('tag', 64);
        t.integer('v');
      });
      for (let i = 0; i < rows; i++) {
        await db('items').insert({ tag: `seed-${i}` });
        await db('events').insert({ tag: `seed-${i}`, v: i });
      }
    } finally {
      await db.destroy();
    }
    return slug;
  };
  const contents = async (server: OwnMariadb, slug: string) => {
    const db = on(server, ws.names(slug).database);
    try {
      return {
        items: await db('items').orderBy('id'),
        events: await db('events').orderBy(['tag', 'v']),
        migrations: await db('knex_migrations').orderBy('id').pluck('name'),
      };
    } finally {
      await db.destroy();
    }
  };

  it('moves a tenant under a steady write load: every committed row on the target, nothing else, auto increments go on, downtime measured', async () => {
    const slug = await tenantOn('src', 200);
    const { database, user } = ws.names(slug);
    const password = (await ws.json(['show', slug, '--show-password'])).data.password as string;
    // The load: inserts and updates through the tenant's own user, one statement per transaction.
    // A statement cut by the fence may or may not have committed: it is "uncertain".
    const committed = new Map<string, number>(); // tag -> updates committed
    const uncertain = new Set<string>();
    const uncertainUpdates = new Map<string, number>();
    let stop = false;
    let errors = 0;
    const load = (async () => {
      let db = on(src, database, user!, password);
      while (!stop) {
        const tag = randomUUID();
        try {
          await db('items').insert({ tag });
          committed.set(tag, 0);
          await db('events').insert({ tag, v: 1 });
          const tags = [...committed.keys()];
          const victim = tags[Math.floor(Math.random() * tags.length)]!;
          uncertainUpdates.set(victim, (uncertainUpdates.get(victim) ?? 0) + 1);
          await db('items').where({ tag: victim }).increment('n', 1);
          uncertainUpdates.set(victim, uncertainUpdates.get(victim)! - 1);
          committed.set(victim, committed.get(victim)! + 1);
        } catch {
          errors++;
          if (!committed.has(tag)) uncertain.add(tag);
          await db.destroy().catch(() => undefined);
          await new Promise((resolve) => setTimeout(resolve, 50));
          db = on(src, database, user!, password);
        }
      }
      await db.destroy().catch(() => undefined);
    })();
    await waitFor(async () => committed.size >= 50, 30_000);
    const { result, data } = await ws.json(['move', slug, '--to', 'plain']);
    expect(result.code, result.stderr).toBe(0);
    const afterMove = committed.size;
    stop = true;
    await load;
    expect(afterMove).toBeGreaterThan(50);
    expect(data).toMatchObject({ mode: 'online', source: 'src', target: 'plain', sourceKept: false });
    expect(Object.keys(data.steps)).toEqual([
      'snapshot',
      'replicate',
      'catchup',
      'compare',
      'fence',
      'drain',
      'unreplicate',
      'verify',
      'switch',
      'unfence',
      'retire',
    ]);
    expect(data.verified.tables).toBeGreaterThanOrEqual(4);
    // The content was compared before the fence, writes paused only for the snapshots.
    expect(data.verified).toMatchObject({ content: 'live' });
    expect(data.verified.writesPausedMs).toBeLessThan(7_000);
    // Counted again inside the fence: the tables the load wrote to since, not the others.
    expect(data.verified.recounted).toBeGreaterThanOrEqual(2);
    expect(data.verified.recounted).toBeLessThan(data.verified.tables);
    console.error(
      `online move under load (mariadb): downtime ${data.downtimeMs} ms, writes paused ${data.verified.writesPausedMs} ms for the live comparison, ${data.durationMs} ms in all, ${afterMove} rows written meanwhile, ${errors} cut statements`,
    );
    expect(data.downtimeMs).toBeGreaterThanOrEqual(0);
    expect(data.downtimeMs).toBeLessThan(10_000);

    // On the target: every committed row, with its committed updates, and nothing else.
    const target = await contents(plain, slug);
    const onTarget = new Map(target.items.map((r: any) => [r.tag as string, r.n as number]));
    for (const [tag, n] of committed) {
      expect(onTarget.has(tag), `committed row ${tag}`).toBe(true);
      expect(onTarget.get(tag)! - n).toBeGreaterThanOrEqual(0);
      expect(onTarget.get(tag)! - n).toBeLessThanOrEqual(uncertainUpdates.get(tag) ?? 0);
    }
    for (const tag of onTarget.keys())
      expect(committed.has(tag) || uncertain.has(tag) || tag.startsWith('seed-'), `row ${tag}`).toBe(true);
    for (const { tag } of target.events)
      expect(committed.has(tag) || uncertain.has(tag) || tag.startsWith('seed-'), `event ${tag}`).toBe(true);
    expect(target.items.filter((r: any) => r.tag.startsWith('seed-'))).toHaveLength(200);
    // Auto increments go on past every copied row: the tenant's new login inserts without a collision.
    const moved = (await ws.json(['show', slug, '--show-password'])).data;
    expect(moved.server).toBe('plain');
    const db = on(plain, database, user!, moved.password);
    try {
      const maxId = Math.max(...target.items.map((r: any) => r.id as number));
      const [id] = await db('items').insert({ tag: 'after-move' });
      expect(id).toBeGreaterThan(maxId);
    } finally {
      await db.destroy();
    }
    expect(await leftovers(src)).toEqual([]);
    expect(await leftovers(plain)).toEqual([]);
  }, 180_000);

  for (const step of [
    'snapshot',
    'replicate',
    'catchup',
    'compare',
    'fence',
    'drain',
    'unreplicate',
    'verify',
    'switch',
    'unfence',
    'retire',
  ]) {
    it(`after a kill -9 at ${step}, move again: one verified live copy, no replication objects left`, async () => {
      const slug = await tenantOn('src');
      const before = await contents(src, slug);
      const killed = ws.start(['move', slug, '--to', 'plain', '--keep-source'], { TENANTCTL_TEST_PAUSE_AT: step });
      let stderr = '';
      killed.child.stderr!.on('data', (chunk) => (stderr += chunk));
      await waitFor(async () => stderr.includes(`TENANTCTL_TEST_PAUSED ${step}`), 60_000);
      killed.child.kill('SIGKILL');
      expect((await killed.done).signal).toBe('SIGKILL');

      const again = await ws.json(['move', slug, '--keep-source']);
      expect(again.result.code, again.result.stderr).toBe(0);
      expect(again.data.target).toBe('plain');
      const shown = (await ws.json(['show', slug])).data;
      expect(shown).toMatchObject({ server: 'plain', status: 'active' });
      expect(await contents(plain, slug)).toEqual(before);
      expect(await leftovers(src)).toEqual([]);
      expect(await leftovers(plain)).toEqual([]);
      const dropped = await ws.run(['move', '--drop-source', slug]);
      expect(dropped.code, dropped.stderr).toBe(0);
    }, 120_000);
  }

  /** A move rolled back: the tenant active on the source, no copy on the target, nothing left on either. */
  const expectRolledBack = async (slug: string, database: string) => {
    expect((await ws.json(['show', slug])).data).toMatchObject({ server: 'src', status: 'active' });
    expect(
      await query(plain, 'select schema_name from information_schema.schemata where schema_name = ?', [database]),
    ).toEqual([]);
    expect(await leftovers(src)).toEqual([]);
    expect(await leftovers(plain)).toEqual([]);
  };

  it('inside the fence, the tables written since the live comparison are counted again: a row the copy lost there is caught, the move rolls back', async () => {
    const slug = await tenantOn('src');
    const { database, user } = ws.names(slug);
    const { password } = (await ws.json(['show', slug, '--show-password'])).data;
    // Paused (4 s) after the comparison, before the fence: the target's copy loses a row of
    // `events` behind the replication's back, then the tenant writes to `events` on the source.
    const moving = await ws.startPausedAt(['move', slug, '--to', 'plain', '--json'], 'fence', 4000);
    const target = on(plain, database);
    const db = on(src, database, user!, password);
    try {
      await target.raw("delete from events where tag = 'seed-3'");
      await db('events').insert({ tag: 'after-compare', v: 1 });
    } finally {
      await target.destroy();
      await db.destroy();
    }
    const done = await moving.done;
    expect(done.code, done.stderr).toBe(1);
    expect(done.stderr).toMatch(
      /verify failed: the copy does not match the source: table events: 31 rows on the source, 30 on the target/,
    );
    await expectRolledBack(slug, database);
  }, 120_000);

  it('a copy that differs from the source is caught by the live comparison, before the tenant is fenced: the move rolls back', async () => {
    const slug = await tenantOn('src');
    const before = await contents(src, slug);
    const database = ws.names(slug).database;
    // Paused (4 s) at the comparison, caught up: a row of the target's copy changed behind the
    // replication's back, which no later change of the source's touches.
    const moving = await ws.startPausedAt(['move', slug, '--to', 'plain', '--json'], 'compare', 4000);
    const target = on(plain, database);
    try {
      await target.raw("update events set v = -1 where tag = 'seed-3'");
    } finally {
      await target.destroy();
    }
    const done = await moving.done;
    expect(done.code, done.stderr).toBe(1);
    expect(done.stderr).toMatch(
      /compare failed: the copy does not match the source \(compared live\): table events: same 30 rows but different content/,
    );
    const registry = sqliteKnex(join(ws.dir, '.tenantctl', 'registry.sqlite'));
    try {
      expect(await registry('tenantctl_moves').where({ slug }).select('status', 'fenced_at')).toEqual([
        { status: 'failed', fenced_at: null },
      ]);
    } finally {
      await registry.destroy();
    }
    expect(await contents(src, slug)).toEqual(before);
    await expectRolledBack(slug, database);
  }, 120_000);

  it('doctor reports the replication objects an abandoned move left on either server, and --fix removes them', async () => {
    const slug = await tenantOn('src', 5);
    const killed = ws.start(['move', slug, '--to', 'plain'], { TENANTCTL_TEST_PAUSE_AT: 'catchup' });
    let stderr = '';
    killed.child.stderr!.on('data', (chunk) => (stderr += chunk));
    await waitFor(async () => stderr.includes('TENANTCTL_TEST_PAUSED catchup'), 60_000);
    killed.child.kill('SIGKILL');
    await killed.done;
    const kinds = async () =>
      ((await ws.json(['doctor'])).data.findings as Array<{ kind: string; server: string; message: string }>).filter(
        (f) => f.kind === 'replication_leftover',
      );
    // Interrupted, not abandoned: its objects are the move's, which `move` removes.
    expect(await kinds()).toEqual([]);
    // Abandoned: its record no longer says running (as a registry restored from an older backup would).
    const registry = sqliteKnex(join(ws.dir, '.tenantctl', 'registry.sqlite'));
    try {
      await registry('tenantctl_moves').where({ slug, status: 'running' }).update({ status: 'failed' });
    } finally {
      await registry.destroy();
    }
    const found = await kinds();
    expect(found.map((f) => f.server).sort()).toEqual(['plain', 'src']);
    expect(found.find((f) => f.server === 'src')!.message).toMatch(/replication user/);
    expect(found.find((f) => f.server === 'plain')!.message).toMatch(/replication connection/);
    const fixed = await ws.run(['doctor', '--fix']);
    expect(fixed.stderr).not.toMatch(/replication_leftover.*fail/i);
    expect(await kinds()).toEqual([]);
    expect(await leftovers(src)).toEqual([]);
    expect(await leftovers(plain)).toEqual([]);
  }, 120_000);

  it('a source without a binlog gives the named reason; --dry-run says so; --offline still moves it', async () => {
    const slug = await tenantOn('plain', 5);
    const before = await contents(plain, slug);
    const dry = await ws.json(['move', slug, '--to', 'src', '--dry-run']);
    expect(dry.result.code, dry.result.stderr).toBe(0);
    expect(dry.data.plan.mode).toBe('offline');
    expect(dry.data.plan.modeReason).toMatch(/log_bin is OFF/);
    const refused = await ws.run(['move', slug, '--to', 'src']);
    expect(refused.code).toBe(4); // conflict: nothing changed
    expect(refused.stderr).toMatch(/log_bin is OFF/);
    expect((await ws.json(['show', slug])).data).toMatchObject({ server: 'plain', status: 'active' });
    const offline = await ws.json(['move', slug, '--to', 'src', '--offline']);
    expect(offline.result.code, offline.result.stderr).toBe(0);
    expect(offline.data).toMatchObject({ mode: 'offline', target: 'src' });
    expect(await contents(src, slug)).toEqual(before);
  }, 60_000);
});
