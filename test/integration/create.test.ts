import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { canQuery } from '../helpers/server-probe.js';
import { waitFor } from '../helpers/wait-for.js';
import { FIXTURES, Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`create on ${engine}`, () => {
    let ws: Workspace;
    beforeAll(() => {
      ws = new Workspace(engine);
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    it('creates the database, the user, runs migrations and seeds, and marks the tenant active', async () => {
      const slug = ws.slug('acme-');
      const { result, data } = await ws.json([
        'create',
        slug,
        '--name',
        'Acme Inc',
        '--plan',
        'pro',
        '--set',
        'admin_email=ops@acme.test',
      ]);
      expect(result.code, result.stderr).toBe(0);
      expect(data.tenant).toMatchObject({
        slug,
        name: 'Acme Inc',
        plan: 'pro',
        status: 'active',
        metadata: { admin_email: 'ops@acme.test' },
      });
      expect(data.migrations).toEqual([
        '20240101000000_create_users_and_roles.js',
        '20240101000100_create_audit_log.js',
      ]);
      expect(data.seeds).toEqual(['01_roles_and_permissions.js', '02_initial_admin.js']);

      const { database, user } = ws.names(slug);
      expect(await ws.probe.databaseExists(database)).toBe(true);
      if (user) expect(await ws.probe.userExists(user)).toBe(true);

      // The application's view: the tenant's own user, with the password tenantctl stored.
      const shown = await ws.json(['show', slug, '--show-password']);
      expect(shown.data.user).toBe(user);
      const db = ws.probe.connectAs(database, user, shown.data.password);
      try {
        const migrations = await db('knex_migrations').orderBy('id').pluck('name');
        expect(migrations).toEqual(data.migrations);
        expect(await db('roles').orderBy('name').pluck('name')).toEqual(['admin', 'member', 'viewer']);
        const admins = await db('users')
          .join('user_roles', 'users.id', 'user_roles.user_id')
          .join('roles', 'roles.id', 'user_roles.role_id')
          .where('roles.name', 'admin')
          .pluck('email');
        expect(admins).toEqual(['ops@acme.test']);
        expect(Number((await db('audit_log').count({ n: '*' }))[0]!.n)).toBe(1);
      } finally {
        await db.destroy();
      }

      const listed = await ws.json(['list']);
      expect(listed.data.map((t: { slug: string; status: string }) => [t.slug, t.status])).toContainEqual([
        slug,
        'active',
      ]);
    });

    if (engine !== 'sqlite') {
      it("gives each tenant a user that reaches its own database and no other tenant's", async () => {
        const [a, b] = [ws.slug('a-'), ws.slug('b-')];
        expect((await ws.run(['create', a])).code).toBe(0);
        expect((await ws.run(['create', b])).code).toBe(0);
        const passwordA = (await ws.json(['show', a, '--show-password'])).data.password as string;
        const namesA = ws.names(a);
        const namesB = ws.names(b);
        expect(
          await canQuery(ws.probe.connectAs(namesA.database, namesA.user, passwordA), 'select count(*) from users'),
        ).toBe(true);
        expect(
          await canQuery(ws.probe.connectAs(namesB.database, namesA.user, passwordA), 'select count(*) from users'),
        ).toBe(false);
        // The test PostgreSQL trusts local connections, so only MySQL can prove the password matters.
        if (engine === 'mysql')
          expect(await canQuery(ws.probe.connectAs(namesA.database, namesA.user, 'wrong-password'))).toBe(false);
      });

      it('makes the tenant role own every object on PostgreSQL, and grants one database only on MySQL', async () => {
        const slug = ws.slug();
        expect((await ws.run(['create', slug])).code).toBe(0);
        const { database, user } = ws.names(slug);
        const admin = ws.probe.admin(database);
        try {
          if (engine === 'postgres') {
            const owners = await admin.raw("select distinct tableowner from pg_tables where schemaname = 'public'");
            expect(owners.rows).toEqual([{ tableowner: user }]);
            const dbOwner = await admin.raw(
              'select pg_get_userbyid(datdba) as owner from pg_database where datname = ?',
              [database],
            );
            expect(dbOwner.rows[0].owner).toBe(user);
          } else {
            const [grants] = await admin.raw(`show grants for '${user}'@'%'`);
            const text = grants.map((g: Record<string, string>) => Object.values(g)[0]).join('\n');
            expect(text).toContain(`\`${database.replaceAll('_', '\\_')}\`.*`);
            expect(text).not.toMatch(/ON \*\.\* TO .*(ALL|SELECT|CREATE)/);
          }
        } finally {
          await admin.destroy();
        }
      });
    }

    if (engine !== 'sqlite') {
      it('shares the server credentials when per-tenant users are turned off', async () => {
        const slug = ws.slug();
        const { result, data } = await ws.json(['create', slug], { TENANTCTL_TENANT_USERS: 'false' });
        expect(result.code, result.stderr).toBe(0);
        expect(data.tenant.user).toBeNull();
        expect(await ws.probe.userExists(ws.names(slug).user!)).toBe(false);
        expect(await ws.probe.databaseExists(ws.names(slug).database)).toBe(true);
        const suspended = await ws.json(['suspend', slug]);
        expect(suspended.data).toMatchObject({ enforced: false, tenant: { status: 'suspended' } });
      });
    }

    it('undoes everything when a migration fails, records the error, and a retry succeeds', async () => {
      const slug = ws.slug();
      const { database, user } = ws.names(slug);
      const broken = await ws.run(['create', slug, '--no-seed'], {
        TENANTCTL_MIGRATIONS_DIR: join(FIXTURES, 'broken-migrations'),
      });
      expect(broken.code).toBe(1);
      expect(broken.stderr).toMatch(/migrations failed: .*table_that_does_not_exist/);
      expect(broken.stderr).not.toMatch(/at .*\.js:\d+/); // one line, no stack trace
      expect(await ws.probe.databaseExists(database)).toBe(false);
      if (user) expect(await ws.probe.userExists(user)).toBe(false);

      const shown = await ws.json(['show', slug]);
      expect(shown.data).toMatchObject({ status: 'failed', step: 'migrations' });
      expect(shown.data.lastError).toMatch(/table_that_does_not_exist/);

      const retried = await ws.json(['create', slug]);
      expect(retried.result.code, retried.result.stderr).toBe(0);
      expect(retried.data).toMatchObject({ retried: true, tenant: { status: 'active', lastError: null } });
      expect(await ws.probe.databaseExists(database)).toBe(true);
    });

    it('takes over a create that was killed (kill -9) mid-migration, leaving no orphan', async () => {
      const slug = ws.slug();
      const { database, user } = ws.names(slug);
      // Replayed: from a template, the migrations run in the template's build, not at this step.
      const slow = ws.start(['create', slug, '--no-seed', '--replay'], {
        TENANTCTL_MIGRATIONS_DIR: join(FIXTURES, 'slow-migrations'),
      });
      await waitFor(
        async () =>
          (await ws.json(['show', slug])).data?.step === 'migrations' && (await ws.probe.databaseExists(database)),
      );
      slow.child.kill('SIGKILL');
      expect((await slow.done).signal).toBe('SIGKILL');

      expect((await ws.json(['show', slug])).data).toMatchObject({ status: 'provisioning', step: 'migrations' });
      const retried = await ws.json(['create', slug]);
      expect(retried.result.code, retried.result.stderr).toBe(0);
      expect(retried.data.retried).toBe(true);
      const password = (await ws.json(['show', slug, '--show-password'])).data.password;
      const db = ws.probe.connectAs(database, user, password);
      try {
        expect(await db.schema.hasTable('slow_things')).toBe(false); // the killed attempt's work is gone
        expect(await db('roles').count({ n: '*' })).toEqual([{ n: engine === 'postgres' ? '3' : 3 }]);
      } finally {
        await db.destroy();
      }
    });

    it('refuses a second create of the same tenant while the first is still running', async () => {
      const slug = ws.slug();
      // Replayed: from a template, the migrations run in the template's build, not at this step.
      const slow = ws.start(['create', slug, '--no-seed', '--replay'], {
        TENANTCTL_MIGRATIONS_DIR: join(FIXTURES, 'slow-migrations'),
      });
      try {
        await waitFor(async () => (await ws.json(['show', slug])).data?.step === 'migrations');
        const second = await ws.run(['create', slug]);
        expect(second.code).toBe(6);
        expect(second.stderr).toMatch(/another tenantctl is working on tenant/);
      } finally {
        slow.child.kill('SIGKILL');
        await slow.done;
      }
    });

    it('runs CommonJS, ES module and TypeScript migrations alike', async () => {
      const slug = ws.slug();
      const { result, data } = await ws.json(['create', slug, '--no-seed'], {
        TENANTCTL_MIGRATIONS_DIR: join(FIXTURES, 'module-formats'),
      });
      expect(result.code, result.stderr).toBe(0);
      expect(data.migrations).toEqual([
        '001_commonjs.cjs',
        '002_esm.mjs',
        '003_typescript.ts',
        '004_default_export.mjs',
      ]);
      const db = ws.probe.admin(ws.names(slug).database);
      try {
        for (const table of ['from_commonjs', 'from_esm', 'from_typescript', 'from_default_export']) {
          expect(await db.schema.hasTable(table)).toBe(true);
        }
      } finally {
        await db.destroy();
      }
    });

    it('creates several tenants at once without tripping over each other, even on a fresh registry', async () => {
      const fresh = new Workspace(engine);
      try {
        const slugs = Array.from({ length: 4 }, () => fresh.slug('par-'));
        const results = await Promise.all(slugs.map((slug) => fresh.run(['create', slug, '--json'])));
        for (const r of results) expect(r.code, r.stderr).toBe(0);
        for (const slug of slugs) expect(await fresh.probe.databaseExists(fresh.names(slug).database)).toBe(true);
        // Every password was encrypted with the one key that won the race.
        for (const slug of slugs) expect((await fresh.run(['show', slug, '--show-password'])).code).toBe(0);
      } finally {
        await fresh.cleanup();
      }
    });

    it('refuses a duplicate slug with exit code 4 and leaves the tenant as it was', async () => {
      const slug = ws.slug();
      expect((await ws.run(['create', slug])).code).toBe(0);
      const again = await ws.run(['create', slug]);
      expect(again.code).toBe(4);
      expect(again.stderr.trim()).toBe(`tenantctl: tenant "${slug}" already exists (active)`);
      expect(await ws.probe.databaseExists(ws.names(slug).database)).toBe(true);
    });

    it('refuses to adopt a database that exists but belongs to no tenant, and leaves it alone', async () => {
      const slug = ws.slug();
      const { database } = ws.names(slug);
      await ws.probe.createDatabase(database); // made by hand, outside tenantctl
      const refused = await ws.run(['create', slug]);
      expect(refused.code).toBe(4);
      expect(refused.stderr).toMatch(/already exists .* belongs to no tenant/);
      expect(await ws.probe.databaseExists(database)).toBe(true);
      expect((await ws.run(['show', slug])).code).toBe(3);
    });

    it('rejects a bad slug with exit code 2 before touching anything', async () => {
      const before = (await ws.json(['list'])).data.length;
      for (const bad of ['Acme', '1acme', 'ac me', 'acme;drop', 'acme.corp', 'a'.repeat(49)]) {
        const result = await ws.run(['create', bad]);
        expect(result.code, bad).toBe(2);
        expect(result.stderr).toMatch(/invalid slug/);
      }
      expect((await ws.json(['list'])).data).toHaveLength(before);
    });

    it('rejects a template that yields an engine-reserved name with exit code 2; an over-long one is shortened', async () => {
      const reserved = { sqlite: 'registry', postgres: 'postgres', mysql: 'mysql' }[engine];
      const env = { TENANTCTL_DATABASE_NAME_TEMPLATE: `{slug}` };
      const result = await ws.run(['create', reserved], env);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/reserved/);
      if (engine !== 'sqlite') {
        // Longer than the engine allows: cut to its limit with a hash suffix (slugPattern, #31).
        const slug = ws.slug(`x${'y'.repeat(38)}`);
        const env = { TENANTCTL_USER_NAME_TEMPLATE: 'tenant_user_account_{slug}' };
        const long = await ws.json(['create', slug], env);
        expect(long.result.code, long.result.stderr).toBe(0);
        expect(long.data.user).toHaveLength(engine === 'mysql' ? 32 : 63);
        expect(long.data.user).toMatch(/_[0-9a-f]{8}$/);
        expect((await ws.json(['show', slug], env)).data.shortenedFrom).toEqual({
          user: `tenant_user_account_${slug}`,
        });
        expect((await ws.run(['delete', slug, '--yes', '--no-backup'], env)).code).toBe(0);
      }
      // Nothing was recorded or made. (The server's own database of that name exists whatever
      // create did, so it proves nothing; the registry and, on SQLite, the file do.)
      expect((await ws.run(['show', reserved])).code).toBe(3);
      if (engine === 'sqlite') expect(await ws.probe.databaseExists(reserved)).toBe(false);
    });
  });
}

describe('create against an unreachable server', () => {
  it('says so in one line, exits 5 and records nothing', async () => {
    const ws = new Workspace('sqlite', { env: { TENANTCTL_SERVER_URL: 'postgres://postgres@127.0.0.1:1/postgres' } });
    try {
      const result = await ws.run(['create', 'acme']);
      expect(result.code).toBe(5);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(
        /server "postgres-127\.0\.0\.1-1" \(127\.0\.0\.1:1\) is unreachable: connection refused/,
      );
      expect((await ws.json(['list'])).data).toEqual([]);
    } finally {
      await ws.cleanup();
    }
  });
});

describe('the embedded default', () => {
  it.skipIf(!reachable.includes('mysql'))(
    'generates a secret key with mode 0600, says so, and never stores a password in clear',
    async () => {
      const ws = new Workspace('mysql');
      try {
        const slug = ws.slug();
        const result = await ws.run(['create', slug]);
        expect(result.code, result.stderr).toBe(0);
        const keyFile = join(ws.dir, '.tenantctl', 'secret.key');
        expect(existsSync(keyFile)).toBe(true);
        expect(statSync(keyFile).mode & 0o777).toBe(0o600);
        expect(result.stderr).toMatch(/Generated a new secret key/);
        const password = (await ws.json(['show', slug, '--show-password'])).data.password as string;
        expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
        expect(readFileSync(join(ws.dir, '.tenantctl', 'registry.sqlite')).includes(password)).toBe(false);
        expect((await ws.run(['show', slug])).stdout).not.toContain(password);
      } finally {
        await ws.cleanup();
      }
    },
  );
});
