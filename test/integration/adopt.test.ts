import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

/**
 * `tenantctl adopt`: databases made by a plain script (not by tenantctl), some with their own
 * users, brought under tenantctl without touching their data; then fleet commands work on them.
 */
for (const engine of selectedEngines().filter((e): e is 'postgres' | 'mysql' => e !== 'sqlite')) {
  describe.skipIf(!reachable.includes(engine))(`adopt on ${engine}`, () => {
    const prefix = `adp${randomBytes(3).toString('hex')}`;
    const env = {
      TENANTCTL_DATABASE_NAME_TEMPLATE: `${prefix}_{slug}`,
      TENANTCTL_USER_NAME_TEMPLATE: `${prefix}_{slug}`,
    };
    const made: Array<{ database: string; user: string | null }> = [];
    let ws: Workspace;
    let admin: Knex;
    const q = (name: string) => (engine === 'postgres' ? `"${name}"` : `\`${name}\``);
    const connection = (database?: string, user?: string, password?: string) => {
      const url = new URL(SERVER_URLS[engine]);
      return {
        host: url.hostname,
        port: Number(url.port),
        user: user ?? decodeURIComponent(url.username),
        password: password ?? decodeURIComponent(url.password),
        database: database ?? (url.pathname.slice(1) || undefined),
      };
    };
    const knexOn = (database?: string, user?: string, password?: string) =>
      knexFactory({
        client: engine === 'postgres' ? 'pg' : 'mysql2',
        connection: connection(database, user, password),
        pool: { min: 0, max: 1 },
      });

    /** What an application's provisioning script does: a database, maybe a user of its own, a table with a row. */
    async function scriptDatabase(name: string, withUser: boolean, migrate = false) {
      const user = withUser ? `${name}_app` : null;
      const password = withUser ? `pw-${randomBytes(6).toString('hex')}` : null;
      made.push({ database: name, user });
      await admin.raw(`create database ${q(name)}`);
      if (user) {
        if (engine === 'postgres') {
          await admin.raw(`create role ${q(user)} login password '${password}'`);
          await admin.raw(`alter database ${q(name)} owner to ${q(user)}`);
        } else {
          await admin.raw(`create user ?@'%' identified by '${password}'`, [user]);
          await admin.raw(`grant all privileges on ${q(name)}.* to ?@'%'`, [user]);
        }
      }
      const app = user ? knexOn(name, user, password!) : knexOn(name);
      try {
        await app.schema.createTable('notes', (t) => {
          t.increments('id');
          t.string('body');
        });
        await app('notes').insert({ body: `kept in ${name}` });
        if (migrate) await app.migrate.latest({ directory: join(ws.dir, 'migrations') });
      } finally {
        await app.destroy();
      }
      return { database: name, user, password };
    }

    const notes = async (database: string, user: string, password: string) => {
      const knex = knexOn(database, user, password);
      try {
        return (await knex('notes').select('body')).map((r) => r.body);
      } finally {
        await knex.destroy();
      }
    };
    const show = async (slug: string) => (await ws.json(['show', slug, '--show-password'])).data;

    beforeAll(() => {
      ws = new Workspace(engine, { env });
      admin = knexOn();
    });
    afterAll(async () => {
      const rows = (await ws.json(['list'])).data as Array<{ database: string; user: string | null }>;
      for (const t of Array.isArray(rows) ? rows : []) made.push({ database: t.database, user: t.user });
      for (const { database, user } of made) await ws.probe.drop(database, user).catch(() => undefined);
      await admin.destroy();
      await ws.cleanup();
    });

    it("adopts one database with the application's own user, refusing what it must", async () => {
      const app = await scriptDatabase(`${prefix}_one`, true, true);
      const login = { TENANTCTL_TENANT_PASSWORD: app.password! };
      const base = ['adopt', 'one', '--database', app.database, '--user', app.user!];
      // Refusals, each before anything is recorded.
      const wrong = await ws.run(base, { TENANTCTL_TENANT_PASSWORD: 'not-it' });
      expect(wrong.code, wrong.stderr).toBe(2);
      expect(wrong.stderr).toMatch(/cannot log in|is not that of/);
      expect(wrong.stderr).not.toContain('not-it');
      expect((await ws.run(['adopt', 'one', '--database', `${prefix}_none`, '--create-user'])).code).toBe(3);
      expect((await ws.run(['adopt', 'one', '--database', app.database])).code).toBe(2); // no credentials
      // The server's admin is never a tenant's own user (suspend would lock it, delete drop it).
      const adminUser = new URL(SERVER_URLS[engine]).username;
      const asAdmin = await ws.run(['adopt', 'one', '--database', app.database, '--user', adminUser], login);
      expect(asAdmin.code, asAdmin.stderr).toBe(2);
      expect(asAdmin.stderr).toMatch(/admin; a tenant needs a user of its own/);
      expect((await ws.run(['show', 'one'])).code).toBe(3);

      const { result, data } = await ws.json(base, login);
      expect(result.code, result.stderr).toBe(0);
      expect(data.tenant).toMatchObject({ slug: 'one', status: 'active', database: app.database, user: app.user });
      expect(data.applied).toHaveLength(2);
      expect(data.migrated).toEqual([]);
      // Registered now: neither this database again nor this slug, nor its user for another database.
      const sharing = await scriptDatabase(`${prefix}_shr`, false, true);
      const shared = await ws.run(['adopt', 'shr', '--database', sharing.database, '--user', app.user!], login);
      expect(shared.code, shared.stderr).toBe(4);
      expect(shared.stderr).toMatch(/already tenant "one"'s/);
      expect((await ws.run(['adopt', 'two', '--database', app.database, '--user', app.user!], login)).code).toBe(4);
      expect((await ws.run(base, login)).code).toBe(4);
      // Another registry sees this registry's mark and leaves it alone.
      const other = new Workspace(engine, { env });
      try {
        const refused = await other.run(['adopt', 'one', '--database', app.database, '--user', app.user!], login);
        expect(refused.code, refused.stderr).toBe(4);
        expect(refused.stderr).toMatch(/another registry's ownership mark/);
      } finally {
        await other.cleanup();
      }
      // Nothing pending; backup and doctor see an ordinary tenant; the data is untouched.
      const all = await ws.json(['migrate-all']);
      expect(all.result.code, all.result.stderr).toBe(0);
      expect((await ws.run(['backup', 'one'])).code).toBe(0);
      expect(await notes(app.database, app.user!, app.password!)).toEqual([`kept in ${app.database}`]);
      expect((await show('one')).password).toBe(app.password);
      // update is no way to repoint a tenant: move is.
      const repoint = await ws.run(['update', 'one', '--database', 'elsewhere']);
      expect(repoint.code).toBe(2);
      expect(repoint.stderr).toMatch(/tenantctl move one/);
      const audit = await ws.json(['log', 'one']);
      expect(JSON.stringify(audit.data)).toMatch(/adopt/);
    }, 120_000);

    it('adopts six script-made databases by --match with --create-user; migrate-all and backup --all work on them', async () => {
      const apps = [];
      for (let i = 0; i < 6; i++) apps.push(await scriptDatabase(`${prefix}_ma${i}`, i % 2 === 0));
      const match = ['adopt', '--match', `${prefix}_ma%`, '--slug-from', `^${prefix}_m(a\\d)$`, '--create-user'];
      const dry = await ws.json([...match, '--dry-run']);
      expect(dry.result.code, dry.result.stderr).toBe(0);
      expect(dry.data.candidates.map((c: { slug: string }) => c.slug)).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
      expect((await ws.run(['show', 'a0'])).code).toBe(3);

      const { result, data } = await ws.json(match);
      expect(result.code, result.stderr).toBe(0);
      expect(data.adopted).toHaveLength(6);
      for (const [i, app] of apps.entries()) {
        const tenant = await show(`a${i}`);
        expect(tenant).toMatchObject({ status: 'active', database: app.database, user: `${prefix}_a${i}` });
        made.push({ database: app.database, user: tenant.user });
        // The new least-privilege user reads (and, on PostgreSQL, owns) the script's tables.
        expect(await notes(app.database, tenant.user, tenant.password)).toEqual([`kept in ${app.database}`]);
        if (engine === 'postgres') {
          const db = knexOn(app.database);
          try {
            const owner = await db.raw("select tableowner from pg_tables where tablename = 'notes'");
            expect(owner.rows[0].tableowner).toBe(tenant.user);
          } finally {
            await db.destroy();
          }
        }
      }
      // Matched again: every one is a tenant's already, nothing adopted twice.
      const again = await ws.json(match);
      expect(again.data.adopted).toEqual([]);
      expect(again.data.candidates.every((c: { skipped: string }) => /already tenant/.test(c.skipped))).toBe(true);

      const migrated = await ws.json(['migrate-all']);
      expect(migrated.result.code, migrated.result.stderr).toBe(0);
      const backups = await ws.json(['backup', '--all']);
      expect(backups.result.code, backups.result.stderr).toBe(0);
      const status = await ws.json(['migrate-status']);
      expect(JSON.stringify(status.data)).not.toMatch(/"pending":\s*\[\s*"/);
    }, 240_000);

    for (const step of ['adopt-user', 'adopt-objects', 'adopt-mark', 'adopt-read'] as const) {
      it(`finishes an adopt killed with -9 at ${step} when run again, without touching the data`, async () => {
        const slug = `k${step.replace('adopt-', '')}`;
        const app = await scriptDatabase(`${prefix}_${slug}_db`, false);
        const killed = await ws.killAtStep(['adopt', slug, '--database', app.database, '--create-user'], step);
        expect(killed.signal).toBe('SIGKILL');
        expect(await show(slug)).toMatchObject({ status: 'adopting', step });
        // Doctor names it and how to finish; create (which would start afresh) refuses it.
        const doctor = await ws.json(['doctor']);
        expect(doctor.data.findings).toContainEqual(
          expect.objectContaining({
            kind: 'interrupted',
            operation: 'adopt',
            tenant: slug,
            fix: `tenantctl adopt ${slug}  (resumes it where it stopped)`,
          }),
        );
        expect((await ws.run(['create', slug])).code).toBe(4);
        const deleting = await ws.run(['delete', slug, '--yes', '--no-backup']);
        expect(deleting.code).toBe(4);
        expect(deleting.stderr).toMatch(/tenantctl adopt/);
        const again = await ws.json(['adopt', slug]);
        expect(again.result.code, again.result.stderr).toBe(0);
        expect(again.data).toMatchObject({ resumed: true, tenant: { status: 'active', step: null } });
        const tenant = await show(slug);
        made.push({ database: app.database, user: tenant.user });
        expect(await notes(app.database, tenant.user, tenant.password)).toEqual([`kept in ${app.database}`]);
      }, 120_000);
    }

    /** tenantctl's traces in a database: its ownership mark, and on PostgreSQL the stamp's function. */
    const traces = async (database: string): Promise<string[]> => {
      if (engine === 'postgres') {
        const comment = await admin.raw(
          "select pg_catalog.shobj_description(oid, 'pg_database') as c from pg_catalog.pg_database where datname = ?",
          [database],
        );
        const on = knexOn(database);
        try {
          const fns = await on.raw(
            "select proname from pg_catalog.pg_proc where proname = 'tenantctl_stamp_migrations'",
          );
          return [comment.rows[0].c, ...fns.rows.map((r: { proname: string }) => r.proname)].filter(Boolean);
        } finally {
          await on.destroy();
        }
      }
      const [rows] = await admin.raw(
        'select table_name as t from information_schema.tables where table_schema = ? and table_name = ?',
        [database, 'tenantctl_owner'],
      );
      return (rows as Array<{ t: string }>).map((r) => r.t);
    };

    it('abandons an adopt that cannot finish: forgotten, the database kept without its traces, the made user named', async () => {
      const app = await scriptDatabase(`${prefix}_ab_db`, false);
      expect(
        (await ws.killAtStep(['adopt', 'ab', '--database', app.database, '--create-user'], 'adopt-read')).signal,
      ).toBe('SIGKILL');
      const user = (await show('ab')).user as string;
      made.push({ database: app.database, user });
      expect(await traces(app.database)).not.toEqual([]);
      // Only an unfinished adopt can be abandoned, and --abandon takes nothing but the slug.
      expect((await ws.run(['adopt', 'ab', '--abandon', '--database', app.database])).code).toBe(2);
      const { result, data } = await ws.json(['adopt', 'ab', '--abandon']);
      expect(result.code, result.stderr).toBe(0);
      expect(data).toMatchObject({ slug: 'ab', database: app.database, databaseFound: true, keptUser: user });
      expect((await ws.run(['show', 'ab'])).code).toBe(3);
      expect(await traces(app.database)).toEqual([]);
      const kept = knexOn(app.database);
      try {
        expect((await kept('notes').select('body')).map((r) => r.body)).toEqual([`kept in ${app.database}`]);
      } finally {
        await kept.destroy();
      }
      // Without the mark doctor leaves it alone as not this registry's: never one to adopt back or drop.
      const findings = (await ws.json(['doctor'])).data.findings as Array<{ kind: string; target?: { name?: string } }>;
      expect(findings.filter((f) => f.target?.name === app.database).map((f) => f.kind)).toEqual(['foreign_database']);
      expect((await ws.run(['adopt', 'ab', '--abandon'])).code).toBe(3);
      expect((await ws.json(['log', 'ab'])).data).toContainEqual(
        expect.objectContaining({ command: 'adopt --abandon' }),
      );
      // A finished adopt is not abandoned: it is a tenant like any other.
      const done = await scriptDatabase(`${prefix}_ab2_db`, false);
      expect((await ws.run(['adopt', 'abtwo', '--database', done.database, '--create-user'])).code).toBe(0);
      made.push({ database: done.database, user: (await show('abtwo')).user });
      const refused = await ws.run(['adopt', 'abtwo', '--abandon']);
      expect(refused.code).toBe(4);
      expect(refused.stderr).toMatch(/not being adopted/);
    }, 120_000);

    it('refuses to adopt onto a server at its tenant limit, recording nothing', async () => {
      const app = await scriptDatabase(`${prefix}_cap_db`, false);
      const server = (await ws.json(['server', 'list'])).data[0] as { name: string; tenants: number };
      expect((await ws.run(['server', 'update', server.name, '--max-tenants', String(server.tenants)])).code).toBe(0);
      try {
        const full = await ws.run(['adopt', 'cap', '--database', app.database, '--create-user']);
        expect(full.code, full.stderr).toBe(4);
        expect(full.stderr).toMatch(/at capacity/);
        expect((await ws.run(['show', 'cap'])).code).toBe(3);
        expect(await traces(app.database)).toEqual([]);
      } finally {
        await ws.run(['server', 'update', server.name, '--max-tenants', 'none']);
      }
    }, 60_000);
  });
}

// SQLite: a tenant is a file in the tenants directory; no users, so neither --user nor --create-user.
describe.skipIf(!selectedEngines().includes('sqlite'))('adopt on sqlite', () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = new Workspace('sqlite');
  });
  afterAll(() => ws.cleanup());

  it('adopts files made by hand, one and by --match; migrate-all and backup --all work on them; refusals', async () => {
    const one = ws.slug('one');
    await ws.probe.createDatabase(ws.names(one).database);
    // Refused: a user on an engine without users, a file that is not there.
    expect((await ws.run(['adopt', one, '--database', ws.names(one).database, '--create-user'])).code).toBe(2);
    expect((await ws.run(['adopt', one, '--database', 'tenant_nothere'])).code).toBe(3);
    const adopted = await ws.json(['adopt', one, '--database', ws.names(one).database, '--plan', 'free']);
    expect(adopted.result.code, adopted.result.stderr).toBe(0);
    expect(adopted.data).toMatchObject({ tenant: { slug: one, status: 'active', plan: 'free' }, applied: [] });

    const many = [ws.slug('m'), ws.slug('m')];
    for (const slug of many) await ws.probe.createDatabase(ws.names(slug).database);
    const matched = await ws.json(['adopt', '--match', 'tenant_m%']);
    expect(matched.result.code, matched.result.stderr).toBe(0);
    expect(matched.data.adopted.map((a: { tenant: { slug: string } }) => a.tenant.slug).sort()).toEqual(many.sort());

    const migrated = await ws.json(['migrate-all']);
    expect(migrated.result.code, migrated.result.stderr).toBe(0);
    expect((await ws.run(['backup', '--all'])).code).toBe(0);
    const db = ws.probe.admin(ws.names(one).database);
    try {
      expect(await db.schema.hasTable('hand_made')).toBe(true); // the file's own table kept
      expect(await db.schema.hasTable('users')).toBe(true); // and migrated
    } finally {
      await db.destroy();
    }
  }, 120_000);
});
