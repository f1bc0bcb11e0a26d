import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OwnPostgres } from '../helpers/own-postgres.js';
import { selectedEngines } from '../helpers/engines.js';
import { waitFor } from '../helpers/wait-for.js';
import { Workspace } from '../helpers/workspace.js';
import { sqliteKnex } from '../helpers/sqlite-knex.js';
import { openFleet, TenantUnavailableError } from '../../src/index.js';

const log = { warn() {}, error() {}, deprecate() {}, debug() {} };

/**
 * Online moves between two PostgreSQL instances of this test's own: `src` configured for logical
 * replication (wal_level = logical), `plain` as PostgreSQL comes (wal_level = replica), which
 * can be a target but not a source. Both are created here, so the test needs nothing set up.
 */
describe.skipIf(!selectedEngines().includes('postgres'))('online move on postgres', () => {
  const src = new OwnPostgres(5480, ['wal_level=logical', 'max_replication_slots=10', 'max_wal_senders=10']);
  // Logs every statement: the subscription's (which holds a password) must not be among them.
  const plain = new OwnPostgres(5481, ['log_statement=all']);
  let ws: Workspace;

  const on = (server: OwnPostgres, database = 'postgres', user = 'postgres', password = ''): Knex =>
    knexFactory({
      client: 'pg',
      connection: { host: '127.0.0.1', port: server.port, user, password, database },
      pool: { min: 0, max: 1 },
      log,
    });
  const query = async (server: OwnPostgres, sql: string, bindings: unknown[] = [], database = 'postgres') => {
    const knex = on(server, database);
    try {
      return (await knex.raw(sql, bindings as never)).rows as any[];
    } finally {
      await knex.destroy();
    }
  };
  /** Replication objects tenantctl named, on a server: slots, subscriptions, logins, publications. */
  const leftovers = async (server: OwnPostgres) => {
    const found = await query(
      server,
      "select 'slot ' || slot_name as what from pg_replication_slots union all select 'subscription ' || subname from pg_subscription union all select 'role ' || rolname from pg_roles where rolname like 'tenantctl\\_move\\_%'",
    );
    for (const { datname } of await query(server, "select datname from pg_database where datname like 'tenant\\_%'"))
      for (const p of await query(server, 'select pubname from pg_publication', [], datname))
        found.push({ what: `publication ${p.pubname} in ${datname}` });
    return found.map((r) => r.what);
  };

  beforeAll(async () => {
    src.start();
    plain.start();
    ws = new Workspace('postgres', { env: { TENANTCTL_MOVE_MODE: 'online' } });
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
    src.destroy();
    plain.destroy();
  });

  /** A tenant on `server` with a keyed table (serial) and one without a primary key. */
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
        t.text('tag').notNullable();
      });
      await db.schema.createTable('events', (t) => {
        t.text('tag');
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
  const contents = async (server: OwnPostgres, slug: string) => {
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

  it('moves a tenant under a steady write load: every committed row on the target, nothing else, sequences go on, downtime measured', async () => {
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
          await db.destroy();
          await new Promise((resolve) => setTimeout(resolve, 50));
          db = on(src, database, user!, password);
        }
      }
      await db.destroy();
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
      'schema',
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
    expect(data.verified.tables).toBeGreaterThanOrEqual(4); // items, events, the migrations' tables and the example's
    // The content was compared before the fence, writes paused only for the snapshots.
    expect(data.verified).toMatchObject({ content: 'live' });
    expect(data.verified.writesPausedMs).toBeLessThan(5_000);
    // Counted again inside the fence: the tables the load wrote to since, not the others.
    expect(data.verified.recounted).toBeGreaterThanOrEqual(2);
    expect(data.verified.recounted).toBeLessThan(data.verified.tables);
    console.error(
      `online move under load: downtime ${data.downtimeMs} ms, writes paused ${data.verified.writesPausedMs} ms for the live comparison, ${data.durationMs} ms in all, ${afterMove} rows written meanwhile, ${errors} cut statements`,
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
    // Sequences go on past every copied row: the tenant's new login inserts without a collision.
    const moved = (await ws.json(['show', slug, '--show-password'])).data;
    expect(moved.server).toBe('plain');
    const db = on(plain, database, user!, moved.password);
    try {
      const maxId = Math.max(...target.items.map((r: any) => r.id as number));
      const [row] = await db('items').insert({ tag: 'after-move' }, ['id']);
      expect(row.id).toBeGreaterThan(maxId);
    } finally {
      await db.destroy();
    }
    expect(await leftovers(src)).toEqual([]);
    expect(await leftovers(plain)).toEqual([]);
    // The replication login's password never reached the target's log.
    const targetLog = readFileSync(join(plain.directory, 'log'), 'utf8');
    expect(targetLog).toMatch(/statement: /); // it does log statements
    expect(targetLog).not.toMatch(/create subscription|password=/i);
  }, 180_000);

  for (const step of [
    'schema',
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
      // The source's copy (kept) has its replica identities back.
      const identities = await query(
        src,
        "select relname, relreplident from pg_class where relname in ('items', 'events') order by 1",
        [],
        ws.names(slug).database,
      );
      expect(identities).toEqual([
        { relname: 'events', relreplident: 'd' },
        { relname: 'items', relreplident: 'd' },
      ]);
      const dropped = await ws.run(['move', '--drop-source', slug]);
      expect(dropped.code, dropped.stderr).toBe(0);
    }, 120_000);
  }

  /** A move rolled back: the tenant active on the source, no copy on the target, nothing left on either. */
  const expectRolledBack = async (slug: string, database: string) => {
    expect((await ws.json(['show', slug])).data).toMatchObject({ server: 'src', status: 'active' });
    expect(await query(plain, 'select 1 from pg_database where datname = ?', [database])).toEqual([]);
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
    await query(plain, "delete from events where tag = 'seed-3'", [], database);
    const db = on(src, database, user!, password);
    try {
      await db('events').insert({ tag: 'after-compare', v: 1 });
    } finally {
      await db.destroy();
    }
    const done = await moving.done;
    expect(done.code, done.stderr).toBe(1);
    expect(done.stderr).toMatch(
      /verify failed: the copy does not match the source: table public\.events: 31 rows on the source, 30 on the target/,
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
    await query(plain, "update events set v = -1 where tag = 'seed-3'", [], database);
    const done = await moving.done;
    expect(done.code, done.stderr).toBe(1);
    expect(done.stderr).toMatch(
      /compare failed: the copy does not match the source \(compared live\): table public\.events: same 30 rows but different content/,
    );
    // Never fenced: the tenant stayed on the source, active, its data as it was; nothing left behind.
    const moves = sqliteKnex(join(ws.dir, '.tenantctl', 'registry.sqlite'));
    try {
      expect(await moves('tenantctl_moves').where({ slug }).select('status', 'fenced_at')).toEqual([
        { status: 'failed', fenced_at: null },
      ]);
    } finally {
      await moves.destroy();
    }
    expect(await contents(src, slug)).toEqual(before);
    await expectRolledBack(slug, database);
  }, 120_000);

  it("a tenant's transaction that holds the tables leaves the content comparison to the fence, saying why; the move goes on", async () => {
    const slug = await tenantOn('src');
    const { password } = (await ws.json(['show', slug, '--show-password'])).data;
    const db = on(src, ws.names(slug).database, ws.names(slug).user!, password);
    try {
      // Caught up, paused (3 s) at the comparison: an uncommitted write begins, whose lock keeps
      // the comparison's write lock waiting past its limit.
      const moving = await ws.startPausedAt(['move', slug, '--to', 'plain', '--json'], 'compare', 3000);
      const trx = await db.transaction();
      await trx('events').insert({ tag: 'uncommitted', v: 0 });
      const done = await moving.done;
      expect(done.code, done.stderr).toBe(0);
      const data = JSON.parse(done.stdout);
      expect(data.verified).toMatchObject({ content: 'fenced' });
      expect(data.verified.liveSkipped).toMatch(/tables could not be locked for a moment.*lock timeout/);
      // The fence ended the transaction's session: its row went nowhere.
      await trx.rollback().catch(() => undefined);
      const target = await contents(plain, slug);
      expect(target.events.map((e: any) => e.tag)).not.toContain('uncommitted');
      expect(target.events).toHaveLength(30);
    } finally {
      await db.destroy();
    }
  }, 120_000);

  it("the library refuses a tenant a move has fenced with TenantUnavailableError (reason 'moving'), serves it before and after", async () => {
    const slug = await tenantOn('src', 5);
    const fleet = await openFleet({
      registryUrl: `sqlite:${join(ws.dir, '.tenantctl', 'registry.sqlite')}`,
      secretKeyFile: join(ws.dir, '.tenantctl', 'secret.key'),
      cacheTtlMs: 50,
      readOnly: true,
    });
    try {
      await (await fleet.knex(slug)).raw('select 1');
      const paused = ws.start(['move', slug, '--to', 'plain'], { TENANTCTL_TEST_PAUSE_AT: 'drain' });
      let stderr = '';
      paused.child.stderr!.on('data', (chunk) => (stderr += chunk));
      await waitFor(async () => stderr.includes('TENANTCTL_TEST_PAUSED drain'), 60_000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      const refused = await fleet.knex(slug).then(
        () => null,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(TenantUnavailableError);
      expect(refused).toMatchObject({ reason: 'moving' });
      paused.child.kill('SIGKILL');
      await paused.done;
      // Still fenced after the kill, as the registry says: refused the same way, until move resolves it.
      await expect(fleet.knex(slug)).rejects.toMatchObject({ reason: 'moving' });
      const again = await ws.run(['move', slug]);
      expect(again.code, again.stderr).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await (await fleet.knex(slug)).raw('select 1');
    } finally {
      await fleet.close();
    }
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
    expect(found.find((f) => f.server === 'src')!.message).toMatch(/replication slot.*WAL/);
    expect(found.find((f) => f.server === 'plain')!.message).toMatch(/subscription/);
    const fixed = await ws.run(['doctor', '--fix']);
    expect(fixed.stderr).not.toMatch(/replication_leftover.*fail/i);
    expect(await kinds()).toEqual([]);
    expect(await leftovers(src)).toEqual([]);
    expect((await leftovers(plain)).filter((l) => !l.startsWith('publication'))).toEqual([]);
  }, 120_000);

  // PostgreSQL 15 (this machine's) applies changes as the subscription's superuser owner.
  it('a tenant that defines a function is not moved online before PostgreSQL 16 (it would run as the superuser); --offline moves it', async () => {
    const slug = await tenantOn('src', 5);
    const { password } = (await ws.json(['show', slug, '--show-password'])).data;
    const db = on(src, ws.names(slug).database, ws.names(slug).user!, password);
    try {
      // What a hostile tenant would hang on a check: it runs for every row the apply writes.
      await db.raw("create function public.tag_ok(t text) returns boolean language sql as $$ select t <> '' $$");
      await db.raw('alter table items add constraint items_tag_ok check (public.tag_ok(tag))');
    } finally {
      await db.destroy();
    }
    const before = await contents(src, slug);
    const refused = await ws.run(['move', slug, '--to', 'plain']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/1 function\(s\).*superuser owner.*--offline/);
    expect((await ws.json(['show', slug])).data).toMatchObject({ server: 'src', status: 'active' });
    expect(await leftovers(src)).toEqual([]);
    expect(await leftovers(plain)).toEqual([]);
    const offline = await ws.json(['move', slug, '--to', 'plain', '--offline']);
    expect(offline.result.code, offline.result.stderr).toBe(0);
    expect(await contents(plain, slug)).toEqual(before);
  }, 90_000);

  it('a finished move run again with the same --to exits 0 saying it is done', async () => {
    const slug = await tenantOn('src', 5);
    const first = await ws.json(['move', slug, '--to', 'plain']);
    expect(first.result.code, first.result.stderr).toBe(0);
    const again = await ws.run(['move', slug, '--to', 'plain']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/is on plain already/);
    const json = await ws.json(['move', slug, '--to', 'plain']);
    expect(json.data).toMatchObject({ alreadyDone: true, target: 'plain' });
  }, 60_000);

  it('a source without wal_level = logical gives the named reason; --dry-run says so; --offline still moves it', async () => {
    const slug = await tenantOn('plain', 5);
    const before = await contents(plain, slug);
    const dry = await ws.json(['move', slug, '--to', 'src', '--dry-run']);
    expect(dry.result.code, dry.result.stderr).toBe(0);
    expect(dry.data.plan.mode).toBe('offline');
    expect(dry.data.plan.modeReason).toMatch(/wal_level is replica, not logical/);
    expect(dry.data.plan.problems.join('\n')).toMatch(/--offline/);
    const refused = await ws.run(['move', slug, '--to', 'src']);
    expect(refused.code).toBe(4); // conflict: nothing changed
    expect(refused.stderr).toMatch(/wal_level is replica, not logical/);
    expect((await ws.json(['show', slug])).data).toMatchObject({ server: 'plain', status: 'active' });
    const offline = await ws.json(['move', slug, '--to', 'src', '--offline']);
    expect(offline.result.code, offline.result.stderr).toBe(0);
    expect(offline.data).toMatchObject({ mode: 'offline', target: 'src' });
    expect(await contents(src, slug)).toEqual(before);
  }, 60_000);

  it('moveMode: auto moves offline, saying why, where the source cannot move online', async () => {
    const slug = await tenantOn('plain', 5);
    const moved = await ws.json(['move', slug, '--to', 'src'], { TENANTCTL_MOVE_MODE: 'auto' });
    expect(moved.result.code, moved.result.stderr).toBe(0);
    expect(moved.data).toMatchObject({ mode: 'offline', target: 'src' });
    expect(moved.data.plan.modeReason).toMatch(/wal_level is replica.*moveMode: auto/);
  }, 60_000);
});
