import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SECOND_SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');
const log = { warn() {}, error() {}, deprecate() {}, debug() {} };

/** A migration directory of one file with this body (CommonJS). */
function migrationsDir(root: string, name: string, up: string): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, '20240101000000_one.js'),
    `exports.up = async (knex) => {${up}};\nexports.down = async () => {};\n`,
  );
  return dir;
}

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`adminSetup on ${engine}`, () => {
    let ws: Workspace;
    beforeAll(() => {
      ws = new Workspace(engine);
      // Several statements in one script, as the server reads it; it counts its runs.
      writeFileSync(
        join(ws.dir, 'setup.sql'),
        'create table if not exists setup_runs (n int);\ninsert into setup_runs values (1);\n',
      );
      writeFileSync(join(ws.dir, 'broken.sql'), 'select * from no_such_table_anywhere;\n');
      // A module: setup(knex, tenant), printing (which must not reach stdout under --json).
      writeFileSync(
        join(ws.dir, 'setup.mjs'),
        `export async function setup(knex, tenant) {
  console.log('setting up', tenant.slug);
  if (!(await knex.schema.hasTable('setup_mod'))) await knex.schema.createTable('setup_mod', (t) => t.string('slug'));
  await knex('setup_mod').insert({ slug: tenant.slug + ':' + tenant.database });
}
`,
      );
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    const count = async (slug: string, table: string) => {
      const db = ws.probe.admin(ws.names(slug).database);
      try {
        return (await db(table).select('*')) as Array<Record<string, unknown>>;
      } finally {
        await db.destroy();
      }
    };

    it('runs before the migrations on create, again on setup <slug> and setup --all, each audited', async () => {
      const slug = ws.slug();
      const { result, data } = await ws.json(['create', slug, '--admin-setup', 'setup.sql']);
      expect(result.code, result.stderr).toBe(0);
      expect(data.adminSetup).toBe(join(ws.dir, 'setup.sql'));
      expect(await count(slug, 'setup_runs')).toHaveLength(1);

      const one = await ws.json(['setup', slug, '--admin-setup', 'setup.sql']);
      expect(one.result.code, one.result.stderr).toBe(0);
      expect(one.data.tenants).toMatchObject([{ slug, outcome: 'done' }]);
      expect(await count(slug, 'setup_runs')).toHaveLength(2);

      const other = ws.slug();
      expect((await ws.run(['create', other])).code).toBe(0); // made before there was a setup
      const all = await ws.json(['setup', '--all', '--admin-setup', 'setup.sql']);
      expect(all.result.code, all.result.stderr).toBe(0);
      expect(all.data).toMatchObject({ ok: true, counts: { done: 2, failed: 0 } });
      expect(all.data.tenants.map((t: { slug: string; outcome: string }) => [t.slug, t.outcome]).sort()).toEqual(
        [
          [slug, 'done'],
          [other, 'done'],
        ].sort(),
      );
      expect(await count(slug, 'setup_runs')).toHaveLength(3);
      expect(await count(other, 'setup_runs')).toHaveLength(1);

      const human = await ws.run(['setup', other, '--admin-setup', 'setup.sql']);
      expect(human.code, human.stderr).toBe(0);
      expect(human.stdout).toMatch(/1 done/);

      const audit = await ws.json(['log', slug]);
      const entries = (audit.data as Array<{ command: string; outcome: string }>).filter((e) => e.command === 'setup');
      expect(entries.map((e) => e.outcome)).toEqual(['ok', 'ok']);
    }, 120_000);

    it('runs on adopt too, before the migration table is read, as the admin', async () => {
      const slug = ws.slug();
      await ws.probe.createDatabase(ws.names(slug).database); // made by a script, not by tenantctl
      const users = engine === 'sqlite' ? [] : ['--create-user'];
      const { result, data } = await ws.json([
        'adopt',
        slug,
        '--database',
        ws.names(slug).database,
        ...users,
        '--admin-setup',
        'setup.sql',
      ]);
      expect(result.code, result.stderr).toBe(0);
      expect(data.tenant).toMatchObject({ slug, status: 'active' });
      expect(await count(slug, 'setup_runs')).toHaveLength(1);
    }, 60_000);

    it('a module setup(knex, tenant) runs as the admin with the tenant named; its console output stays off stdout', async () => {
      const slug = ws.slug();
      const { result, data } = await ws.json(['create', slug, '--admin-setup', 'setup.mjs']);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toContain(`setting up ${slug}`);
      expect(data.log).toEqual([`setting up ${slug}`]);
      expect(await count(slug, 'setup_mod')).toEqual([{ slug: `${slug}:${ws.names(slug).database}` }]);
    }, 60_000);

    it('a failing adminSetup undoes the create like any step; a missing one is exit 2 with nothing made', async () => {
      const slug = ws.slug();
      const failed = await ws.json(['create', slug, '--admin-setup', 'broken.sql']);
      expect(failed.result.code).toBe(1);
      expect(failed.data.error.message).toMatch(/setup failed: adminSetup .*broken\.sql/);
      expect(await ws.probe.databaseExists(ws.names(slug).database)).toBe(false);
      const shown = await ws.json(['show', slug]);
      expect(shown.data).toMatchObject({ status: 'failed' });
      expect(shown.data.lastError ?? JSON.stringify(shown.data)).toMatch(/setup/);

      const none = ws.slug();
      const missing = await ws.run(['create', none, '--admin-setup', 'nope.sql']);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/adminSetup .*nope\.sql does not exist/);
      expect(await ws.probe.databaseExists(ws.names(none).database)).toBe(false);
      expect((await ws.run(['show', none])).code).toBe(3);

      expect((await ws.run(['setup', '--all'])).code).toBe(2); // none configured
    }, 60_000);
  });
}

describe.skipIf(!reachable.includes('postgres'))('adminSetup on postgres: what only the admin may do', () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = new Workspace('postgres');
    // postgres_fdw is not a trusted extension: only a superuser creates it, and only one it is
    // granted to may use its wrapper. The module does both, for the tenant's own role.
    writeFileSync(
      join(ws.dir, 'fdw-setup.cjs'),
      `exports.setup = async (knex, tenant) => {
  await knex.raw('create extension if not exists postgres_fdw');
  await knex.raw('grant usage on foreign data wrapper postgres_fdw to ??', [tenant.user]);
};
`,
    );
    migrationsDir(
      ws.dir,
      'fdw-migrations',
      `await knex.raw("create server if not exists reporting foreign data wrapper postgres_fdw options (host '127.0.0.1', dbname 'reporting')");`,
    );
    migrationsDir(ws.dir, 'ext-migrations', `await knex.raw('create extension postgres_fdw');`);
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it('an extension only the admin may create, made by adminSetup, is used by a migration', async () => {
    const slug = ws.slug();
    const args = ['create', slug, '--no-seed', '--migrations-dir', 'fdw-migrations'];
    const { result, data } = await ws.json([...args, '--admin-setup', 'fdw-setup.cjs']);
    expect(result.code, result.stderr).toBe(0);
    expect(data.migrations).toEqual(['20240101000000_one.js']);
    const db = ws.probe.admin(ws.names(slug).database);
    try {
      const servers = (await db.raw('select srvname, pg_get_userbyid(srvowner) as owner from pg_foreign_server')).rows;
      expect(servers).toEqual([{ srvname: 'reporting', owner: ws.names(slug).user }]);
    } finally {
      await db.destroy();
    }
    // Idempotent by contract: run again on the tenant, nothing fails.
    const again = await ws.json(['setup', slug, '--admin-setup', 'fdw-setup.cjs']);
    expect(again.data.tenants).toMatchObject([{ slug, outcome: 'done' }]);
    // Its backup (which holds the extension) restores: a scratch copy and the tenant's own database
    // are set up by the admin first.
    const setupFlag = ['--admin-setup', 'fdw-setup.cjs'];
    const backup = await ws.run(['backup', slug, ...setupFlag]);
    expect(backup.code, backup.stderr).toBe(0);
    const verified = await ws.json(['backup', 'verify', slug, '--restore-test', ...setupFlag]);
    expect(verified.result.code, verified.result.stdout).toBe(0);
    const restored = await ws.run(['restore', slug, '--latest', '--force', ...setupFlag]);
    expect(restored.code, restored.stderr).toBe(0);

    // Without it, a migration creating the extension is refused, and the error says why and what to do.
    const bare = ws.slug();
    const refused = await ws.json(['create', bare, '--no-seed', '--migrations-dir', 'ext-migrations']);
    expect(refused.result.code).toBe(1);
    expect(refused.data.error.message).toMatch(/permission denied/);
    expect(refused.data.error.message).toContain(`run as the tenant's own database user "${ws.names(bare).user}"`);
    expect(refused.data.error.message).toContain('adminSetup');
  }, 120_000);

  it("a tenant cannot shadow what the setup calls: the database's search_path is not the admin's", async () => {
    const slug = ws.slug();
    expect((await ws.run(['create', slug, '--no-seed'])).code).toBe(0);
    const { password } = (await ws.json(['show', slug, '--show-password'])).data;
    const { database, user } = ws.names(slug);
    const tenant = ws.probe.connectAs(database, user, password);
    try {
      // A hostile tenant's trap: its own lower(), first in the database's default search_path,
      // which would make whoever calls lower() unqualified a superuser-maker.
      await tenant.raw('create schema trap');
      await tenant.raw(
        `create function trap.lower(t text) returns text language plpgsql as $$ begin execute 'alter role ${user} superuser'; return t; end $$`,
      );
      await tenant.raw(`alter database "${database}" set search_path = trap, pg_catalog, public`);
    } finally {
      await tenant.destroy();
    }
    writeFileSync(join(ws.dir, 'lower-setup.sql'), "select lower('X');\n");
    const ran = await ws.json(['setup', slug, '--admin-setup', 'lower-setup.sql']);
    expect(ran.result.code, ran.result.stderr).toBe(0);
    const admin = ws.probe.admin('postgres');
    try {
      const role = (await admin.raw('select rolsuper from pg_roles where rolname = ?', [user])).rows[0];
      expect(role.rolsuper).toBe(false);
    } finally {
      await admin.destroy();
    }
  }, 60_000);

  it("migrate-all's permission error names adminSetup too", async () => {
    const slug = ws.slug();
    mkdirSync(join(ws.dir, 'no-migrations'), { recursive: true });
    expect((await ws.run(['create', slug, '--no-seed', '--migrations-dir', 'no-migrations'])).code).toBe(0);
    const { result, data } = await ws.json(['migrate-all', '--tenants', slug, '--migrations-dir', 'ext-migrations']);
    expect(result.code).toBe(1);
    expect(data.tenants[0].outcome).toBe('failed');
    expect(data.tenants[0].error).toMatch(/permission denied to create extension "postgres_fdw"/);
    expect(data.tenants[0].error).toContain('adminSetup');
  }, 60_000);
});

describe.skipIf(!reachable.includes('mysql'))('adminSetup on mysql: the permission hint', () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = new Workspace('mysql');
    migrationsDir(ws.dir, 'grant-migrations', `await knex.raw('select * from mysql.user');`);
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it('a migration refused a privilege says it ran as the tenant and names adminSetup', async () => {
    const slug = ws.slug();
    const refused = await ws.json(['create', slug, '--no-seed', '--migrations-dir', 'grant-migrations']);
    expect(refused.result.code).toBe(1);
    expect(refused.data.error.message).toMatch(/denied/);
    expect(refused.data.error.message).toContain(`"${ws.names(slug).user}"`);
    expect(refused.data.error.message).toContain('adminSetup');
  }, 60_000);
});

describe.skipIf(!reachable.includes('postgres'))("adminSetup on move's target", () => {
  let ws: Workspace;
  const second = () =>
    knexFactory({ client: 'pg', connection: SECOND_SERVER_URLS.postgres, pool: { min: 0, max: 1 }, log });
  const slugs: string[] = [];
  beforeAll(async () => {
    ws = new Workspace('postgres', { env: { TENANTCTL_SERVER_URL: undefined } });
    writeFileSync(join(ws.dir, 'ext-setup.sql'), 'create extension if not exists postgres_fdw;\n');
    for (const [name, url] of [
      ['a', 'postgres://postgres@127.0.0.1:5432/postgres'],
      ['b', SECOND_SERVER_URLS.postgres],
    ]) {
      const added = await ws.run(['server', 'add', name!, '--url', url!]);
      expect(added.code, added.stderr).toBe(0);
    }
  });
  afterAll(async () => {
    const knex = second();
    try {
      for (const slug of slugs) {
        await knex.raw(`drop database if exists "${ws.names(slug).database}" with (force)`);
        await knex.raw(`drop role if exists "${ws.names(slug).user}"`);
      }
    } finally {
      await knex.destroy();
    }
    await ws.cleanup();
  });

  it('a tenant whose dump holds an extension only the admin may create moves: the target is set up first', async () => {
    const slug = ws.slug('m');
    slugs.push(slug);
    const env = { TENANTCTL_ADMIN_SETUP: 'ext-setup.sql' };
    const created = await ws.run(['create', slug, '--server', 'a'], env);
    expect(created.code, created.stderr).toBe(0);
    const moved = await ws.json(['move', slug, '--to', 'b'], env);
    expect(moved.result.code, moved.result.stderr).toBe(0);
    expect(moved.data).toMatchObject({ source: 'a', target: 'b' });
    const url = new URL(SECOND_SERVER_URLS.postgres);
    url.pathname = `/${ws.names(slug).database}`;
    const target = knexFactory({ client: 'pg', connection: url.href, pool: { min: 0, max: 1 }, log });
    try {
      const found = (await target.raw("select extname from pg_extension where extname = 'postgres_fdw'")).rows;
      expect(found).toHaveLength(1);
    } finally {
      await target.destroy();
    }
  }, 180_000);
});
