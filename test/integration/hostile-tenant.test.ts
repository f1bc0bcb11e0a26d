import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SECOND_SERVER_URLS, SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { canQuery } from '../helpers/server-probe.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');
const log = { warn() {}, error() {}, deprecate() {}, debug() {} };

/**
 * A hostile tenant: one that has only its own database user (as an SQL injection in its
 * application would give it) and uses it to plant objects that run when tenantctl touches its
 * database — a migration table replaced by a view over a function, a CHECK constraint, a cast, an
 * invoker view — or hands tenantctl a forged dump. After every routine command the tenant's
 * privileges are exactly what they were, no role or user appeared, no file appeared on the host,
 * and no other tenant's rows were read.
 */
for (const engine of selectedEngines().filter((e): e is 'postgres' | 'mysql' => e !== 'sqlite')) {
  describe.skipIf(!reachable.includes(engine))(`a hostile tenant on ${engine}`, () => {
    const pg = engine === 'postgres';
    const client = pg ? 'pg' : 'mysql2';
    const rows = (result: any): any[] => (pg ? result.rows : result[0]);
    /** A knex on one server: `a` is the main instance, `b` the second one. */
    const on = (server: 'a' | 'b', database?: string, user?: string, password?: string): Knex => {
      const url = new URL(server === 'a' ? SERVER_URLS[engine] : SECOND_SERVER_URLS[engine]);
      const connection = {
        host: url.hostname,
        port: Number(url.port),
        user: user ?? decodeURIComponent(url.username),
        password: password ?? decodeURIComponent(url.password),
        database: database ?? (url.pathname.slice(1) || undefined),
      };
      return knexFactory({ client, connection, pool: { min: 0, max: 1 }, log });
    };
    const query = async (server: 'a' | 'b', sql: string, bindings: any[] = [], database?: string) => {
      const knex = on(server, database);
      try {
        return rows(await knex.raw(sql, bindings));
      } finally {
        await knex.destroy();
      }
    };

    let ws: Workspace;
    const onB: string[] = [];
    const markers: string[] = [];
    const evil: string[] = [];
    beforeAll(async () => {
      ws = new Workspace(engine);
      for (const [name, url] of [
        ['a', SERVER_URLS[engine]],
        ['b', SECOND_SERVER_URLS[engine]],
      ] as const) {
        const added = await ws.run(['server', 'add', name, '--url', url]);
        expect(added.code, added.stderr).toBe(0);
      }
    });
    afterAll(async () => {
      for (const slug of onB) {
        const { database, user } = ws.names(slug);
        await query(
          'b',
          pg ? `drop database if exists "${database}" with (force)` : `drop database if exists \`${database}\``,
        );
        await query('b', pg ? `drop role if exists "${user}"` : 'drop user if exists ?@?', pg ? [] : [user, '%']);
      }
      for (const name of evil) {
        for (const server of ['a', 'b'] as const) {
          await query(server, pg ? `drop role if exists "${name}"` : 'drop user if exists ?@?', pg ? [] : [name, '%']);
        }
      }
      for (const marker of markers) rmSync(marker, { force: true });
      await ws.cleanup();
    });

    /** A name for a role or user the attack tries to create, and a file it tries to write. */
    const trophies = () => {
      const name = `evil_${randomBytes(4).toString('hex')}`;
      const marker = `/tmp/tenantctl-hostile-${randomBytes(4).toString('hex')}`;
      evil.push(name);
      markers.push(marker);
      return { name, marker };
    };

    const tenant = async (server: 'a' | 'b' = 'a') => {
      const slug = ws.slug('h');
      const created = await ws.run(['create', slug, '--server', server]);
      expect(created.code, created.stderr).toBe(0);
      const shown = await ws.json(['show', slug, '--show-password']);
      const { database, user } = ws.names(slug);
      return { slug, database, user: user!, password: shown.data.password as string };
    };
    type Tenant = Awaited<ReturnType<typeof tenant>>;

    /** Runs `fn` logged in as the tenant's own user, as its application (or an injection in it) is. */
    const asTenant = async <T>(t: Tenant, fn: (db: Knex) => Promise<T>, server: 'a' | 'b' = 'a'): Promise<T> => {
      const db = on(server, t.database, t.user, t.password);
      try {
        return await fn(db);
      } finally {
        await db.destroy();
      }
    };

    /** Everything a role or account may do beyond its own database, as the server records it. */
    const privileges = async (user: string, server: 'a' | 'b' = 'a') => {
      if (pg) {
        return query(
          server,
          'select rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication, (select count(*) from pg_auth_members m where m.member = r.oid) as member_of from pg_roles r where rolname = ?',
          [user],
        );
      }
      // The password's hash aside: a moved tenant's user has a new password on the target.
      const grants = (await query(server, 'show grants for ?@?', [user, '%'])).map((r: object) =>
        String(Object.values(r)[0]).replace(/ IDENTIFIED BY PASSWORD '[^']*'/, ''),
      );
      const access = await query(
        server,
        "select json_value(priv, '$.access') as access from mysql.global_priv where user = ? and host = '%'",
        [user],
      );
      return { grants, access };
    };
    const exists = async (name: string, server: 'a' | 'b' = 'a') =>
      (
        await query(
          server,
          pg ? 'select 1 from pg_roles where rolname = ?' : 'select 1 from mysql.user where user = ?',
          [name],
        )
      ).length > 0;

    /** The victim: another tenant on the same server, with rows the attacker wants. */
    const victim = async () => {
      const v = await tenant();
      await asTenant(v, (db) => db('users').insert({ email: 'secret@victim.test', name: 'Secret' }));
      return v;
    };

    /** Replaces the tenant's knex_migrations with a view over a function that tries to escalate. */
    const plantMigrationView = async (h: Tenant, v: Tenant, trophy: { name: string; marker: string }) => {
      await asTenant(h, async (db) => {
        if (pg) {
          await db.raw('alter table knex_migrations rename to knex_migrations_real');
          await db.raw(`create function public.pwn() returns setof public.knex_migrations_real language plpgsql as $$
            begin
              begin execute 'alter role "${h.user}" superuser createrole'; exception when others then null; end;
              begin execute 'create role "${trophy.name}" superuser login'; exception when others then null; end;
              begin execute 'copy (select 1) to program ''touch ${trophy.marker}'''; exception when others then null; end;
              return query select * from public.knex_migrations_real;
            end $$`);
          await db.raw('create view public.knex_migrations as select * from public.pwn()');
          // The database comment's fingerprint would answer without reading the table: gone.
          await db.raw(`comment on database "${h.database}" is 'nothing to see'`);
        } else {
          await db.raw('create table loot (email varchar(255))');
          await db.raw(`create function pwn() returns int sql security invoker modifies sql data
            begin
              declare continue handler for sqlexception begin end;
              insert into \`${h.database}\`.loot (email) select email from \`${v.database}\`.users;
              update mysql.global_priv set priv = json_set(priv, '$.access', 1073741823) where user = '${h.user}';
              return 1;
            end`);
          await db.raw('rename table knex_migrations to knex_migrations_real');
          await db.raw(
            'create sql security invoker view knex_migrations as select id, name, batch, migration_time from knex_migrations_real where pwn() = 1',
          );
        }
      });
    };

    /** After an attack: nothing gained, nothing created, nothing read. */
    const expectContained = async (
      h: Tenant,
      before: unknown,
      trophy: { name: string; marker: string },
      server: 'a' | 'b' = 'a',
    ) => {
      expect(await privileges(h.user, server)).toEqual(before);
      expect(await exists(trophy.name, 'a')).toBe(false);
      expect(await exists(trophy.name, 'b')).toBe(false);
      expect(existsSync(trophy.marker)).toBe(false);
    };

    it('a migration table replaced by a view over its own function is reported as tampered by every routine command, and never runs as the admin', async () => {
      const v = await victim();
      const h = await tenant();
      const trophy = trophies();
      const before = await privileges(h.user);
      await plantMigrationView(h, v, trophy);
      const tampered = /knex_migrations of database "[^"]+" is a view, not a plain table: tampered with/;

      const stats = await ws.json(['stats']);
      expect(stats.result.code).toBe(1);
      expect(stats.data.tenants.find((t: any) => t.slug === h.slug).error).toMatch(tampered);
      expect(stats.data.tenants.find((t: any) => t.slug === v.slug).error).toBeUndefined();

      const prometheus = await ws.run(['stats', '--format', 'prometheus']);
      expect(prometheus.code).toBe(1);
      expect(prometheus.stdout).toContain(`tenantctl_tenant_migration_table_tampered{tenant="${h.slug}"`);

      const status = await ws.json(['migrate-status']);
      expect(status.result.code).toBe(1);
      expect(status.data.tenants.find((t: any) => t.slug === h.slug).error).toMatch(tampered);
      expect(status.data.summary.tampered).toBe(1);

      const doctor = await ws.json(['doctor']);
      expect(doctor.result.code).toBe(1);
      const finding = doctor.data.findings.find((f: any) => f.kind === 'tampered_migrations');
      expect(finding).toMatchObject({ tenant: h.slug, severity: 'problem' });

      const migrated = await ws.json(['migrate-all']);
      expect(migrated.result.code).toBe(1);
      const outcome = (slug: string) => migrated.data.tenants.find((t: any) => t.slug === slug);
      expect(outcome(h.slug)).toMatchObject({ outcome: 'failed' });
      expect(outcome(h.slug).error).toMatch(tampered);
      expect(outcome(v.slug).outcome).toBe('up_to_date');

      // A backup is still taken (of the tenant's own data, as the tenant), with a warning.
      const backup = await ws.json(['backup', h.slug]);
      expect(backup.result.code, backup.result.stderr).toBe(0);
      expect(backup.data.tenants.tenants[0].backup.warning).toMatch(tampered);
      const verified = await ws.json(['backup', 'verify', '--restore-test', h.slug]);
      expect(verified.result.code, JSON.stringify(verified.data)).toBe(0);
      const restored = await ws.run(['restore', h.slug, '--force']);
      expect(restored.code, restored.stderr).toBe(0);

      const moved = await ws.run(['move', h.slug, '--to', 'b']);
      expect(moved.code).toBe(1);
      expect(moved.stderr).toMatch(tampered);
      expect((await ws.json(['show', h.slug])).data.server).toBe('a');

      await expectContained(h, before, trophy);
      if (!pg) {
        const loot = await asTenant(h, (db) => db('loot').count({ n: '*' }));
        expect(Number(loot[0]!.n)).toBe(0);
      }
    });

    it('backup, verify --restore-test, restore, clone and move run what the tenant planted with its own rights only', async () => {
      const h = await tenant();
      const trophy = trophies();
      const before = await privileges(h.user);
      await asTenant(h, async (db) => {
        if (pg) {
          // A CHECK whose function leaves any SET ROLE a restore made, then escalates.
          await db.raw(`create function public.trap_check(int) returns boolean language plpgsql as $$
            begin
              begin execute 'reset role'; execute 'alter role "${h.user}" superuser createrole'; exception when others then null; end;
              begin execute 'create role "${trophy.name}" superuser'; exception when others then null; end;
              begin execute 'copy (select 1) to program ''touch ${trophy.marker}'''; exception when others then null; end;
              return true;
            end $$`);
          await db.raw('create table public.guarded (id int primary key check (public.trap_check(id)))');
          await db.raw('insert into public.guarded values (1), (2)');
          // A cast of its own row type to text: what a checksum of `row::text` would call.
          await db.raw('create table public.trap (id int primary key, v text)');
          await db.raw("insert into public.trap values (1, 'x')");
          await db.raw(`create function public.trap_text(public.trap) returns text language plpgsql as $$
            begin
              begin execute 'alter role "${h.user}" superuser createrole'; exception when others then null; end;
              return 'x';
            end $$`);
          await db.raw('create cast (public.trap as text) with function public.trap_text(public.trap)');
        } else {
          // Routines, a trigger and a view, all with the tenant as definer: a clone, a scratch
          // copy and a move restore them as another user.
          await db.raw('create table notes (id int primary key, body text, stamped varchar(20))');
          await db.raw("create function shout(s text) returns text deterministic return concat(upper(s), '!')");
          await db.raw("create trigger stamp before insert on notes for each row set new.stamped = 'trigger'");
          await db.raw('create view loud_notes as select id, shout(body) as body from notes');
          await db('notes').insert([
            { id: 1, body: 'one' },
            { id: 2, body: 'two' },
          ]);
        }
      });
      const backup = await ws.json(['backup', h.slug]);
      expect(backup.result.code, backup.result.stderr).toBe(0);
      const verified = await ws.json(['backup', 'verify', '--restore-test', h.slug]);
      expect(verified.result.code, JSON.stringify(verified.data)).toBe(0);
      const restored = await ws.run(['restore', h.slug, '--force']);
      expect(restored.code, restored.stderr).toBe(0);
      await expectContained(h, before, trophy);

      const clone = ws.slug('c');
      const cloned = await ws.run(['restore', h.slug, '--as', clone]);
      expect(cloned.code, cloned.stderr).toBe(0);
      const c = { ...ws.names(clone), password: (await ws.json(['show', clone, '--show-password'])).data.password };
      const cloneDb = on('a', c.database, c.user!, c.password);
      try {
        if (!pg) {
          // The clone's objects are its own user's: they work when it uses them.
          const loud = rows(await cloneDb.raw('select body from loud_notes order by id'));
          expect(loud.map((r: any) => r.body)).toEqual(['ONE!', 'TWO!']);
          await cloneDb('notes').insert({ id: 3, body: 'three' });
          expect((await cloneDb('notes').where({ id: 3 }).first()).stamped).toBe('trigger');
        } else {
          expect(rows(await cloneDb.raw('select count(*)::int as n from guarded'))[0].n).toBe(2);
        }
      } finally {
        await cloneDb.destroy();
      }

      onB.push(h.slug);
      const moved = await ws.run(['move', h.slug, '--to', 'b']);
      expect(moved.code, moved.stderr).toBe(0);
      await expectContained(h, before, trophy, 'b');
    });

    it('a suspended tenant is backed up, counted and moved while its application stays locked out', async () => {
      const h = await tenant();
      await asTenant(h, (db) =>
        db.batchInsert(
          'users',
          Array.from({ length: 20_000 }, (_, i) => ({ email: `u${i}@s.test`, name: `User ${i}` })),
          1000,
        ),
      );
      const suspended = await ws.run(['suspend', h.slug, '--reason', 'unpaid']);
      expect(suspended.code, suspended.stderr).toBe(0);
      const before = await privileges(h.user);

      // While tenantctl borrows the locked login, the application's password still gets nothing.
      let attempts = 0;
      let admitted = 0;
      let running = true;
      const application = (async () => {
        while (running) {
          attempts++;
          if (await canQuery(on('a', h.database, h.user, h.password))) admitted++;
        }
      })();
      const backup = await ws.json(['backup', h.slug]);
      const stats = await ws.json(['stats', h.slug, '--exact']);
      running = false;
      await application;
      expect(backup.result.code, backup.result.stderr).toBe(0);
      expect(stats.result.code, stats.result.stderr).toBe(0);
      expect(stats.data.tenants[0]).toMatchObject({ rows: expect.any(Number), rowsExact: true, status: 'suspended' });
      expect(stats.data.tenants[0].rows).toBeGreaterThanOrEqual(20_000);
      expect(attempts).toBeGreaterThan(0);
      expect(admitted).toBe(0);
      expect(await privileges(h.user)).toEqual(before);

      onB.push(h.slug);
      const moved = await ws.run(['move', h.slug, '--to', 'b']);
      expect(moved.code, moved.stderr).toBe(0);
      const target = (await ws.json(['show', h.slug, '--show-password'])).data;
      expect(target).toMatchObject({ server: 'b', status: 'suspended' });
      expect(await canQuery(on('b', h.database, h.user, target.password))).toBe(false);
      const reactivated = await ws.run(['reactivate', h.slug]);
      expect(reactivated.code, reactivated.stderr).toBe(0);
      expect(await canQuery(on('b', h.database, h.user, target.password))).toBe(true);
    });

    it('a forged dump restores only with --from-untrusted-file, and even then escapes nothing', async () => {
      const h = await tenant();
      await asTenant(h, (db) => db('users').insert({ email: 'keep@h.test', name: 'Keep' }));
      const trophy = trophies();
      const before = await privileges(h.user);
      const forged = join(ws.dir, pg ? 'forged.pgdump' : 'forged.sql.gz');
      if (pg) writeFileSync(forged, await forgedArchive(trophy));
      else {
        const sql = [
          '-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB',
          `\\! touch ${trophy.marker}`,
          `CREATE USER '${trophy.name}'@'%' IDENTIFIED BY 'pw';`,
          `GRANT ALL ON *.* TO '${trophy.name}'@'%' WITH GRANT OPTION;`,
          `GRANT ALL ON *.* TO '${h.user}'@'%';`,
          '-- Dump completed on 2026-01-01  0:00:00',
          '',
        ].join('\n');
        writeFileSync(forged, gzipSync(sql));
      }

      const refused = await ws.run(['restore', h.slug, '--from', forged, '--force']);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/not one of this registry's backups.*--from-untrusted-file/);
      expect((await ws.json(['show', h.slug])).data.status).toBe('active');
      expect(await asTenant(h, (db) => db('users').where({ email: 'keep@h.test' }).first())).toBeTruthy();

      const trusted = await ws.run(['restore', h.slug, '--from', forged, '--force', '--from-untrusted-file']);
      expect(trusted.code).toBe(1);
      expect(trusted.stderr).toMatch(
        pg
          ? /must be superuser to create superusers|permission denied to create role/
          : /Unknown command '\\!'|Not allowed in the sandbox mode/,
      );
      await expectContained(h, before, trophy);
      const audit = await ws.json(['log', h.slug]);
      expect(audit.data[0]).toMatchObject({ command: 'restore', outcome: 'failed' });
      expect(audit.data[0].arguments).toContain('--from-untrusted-file');

      if (!pg) {
        // Without the client command, what the file asks of the server fails as the tenant's user.
        const statements = join(ws.dir, 'statements.sql.gz');
        writeFileSync(
          statements,
          gzipSync(
            `CREATE USER '${trophy.name}'@'%' IDENTIFIED BY 'pw';\nGRANT ALL ON *.* TO '${h.user}'@'%';\n-- Dump completed\n`,
          ),
        );
        const denied = await ws.run(['restore', h.slug, '--from', statements, '--force', '--from-untrusted-file']);
        expect(denied.code).toBe(1);
        expect(denied.stderr).toMatch(/Access denied/);
        await expectContained(h, before, trophy);
      }
    });

    // MySQL only: PostgreSQL's restore tool runs no commands of its own.
    if (!pg)
      it('with a client that has no --sandbox, a file with a client command is refused before any of it runs', async () => {
        const h = await tenant();
        const trophy = trophies();
        // A mysql client that, like Oracle's, does not know --sandbox.
        const wrapper = join(ws.dir, 'old-mysql');
        writeFileSync(
          wrapper,
          `#!/bin/sh\nif [ "$1" = "--help" ]; then mariadb --help | grep -v -- '--sandbox'; exit 0; fi\nexec mariadb "$@"\n`,
        );
        chmodSync(wrapper, 0o755);
        const forged = join(ws.dir, 'client-command.sql.gz');
        writeFileSync(
          forged,
          gzipSync(`CREATE TABLE ran_first (id int);\nselect 1 \\! touch ${trophy.marker}\n;\n-- Dump completed\n`),
        );
        const refused = await ws.run(['restore', h.slug, '--from', forged, '--force', '--from-untrusted-file'], {
          TENANTCTL_MYSQL_CLIENT: wrapper,
        });
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(/line 2: a mysql client backslash command/);
        expect(existsSync(trophy.marker)).toBe(false);
        const tables = await query('a', 'select table_name from information_schema.tables where table_schema = ?', [
          h.database,
        ]);
        expect(tables.map((t: any) => t.table_name ?? t.TABLE_NAME)).not.toContain('ran_first');

        // A real dump passes the same check and restores through that client.
        expect((await ws.run(['backup', h.slug])).code).toBe(0);
        const restored = await ws.run(['restore', h.slug, '--force'], { TENANTCTL_MYSQL_CLIENT: wrapper });
        expect(restored.code, restored.stderr).toBe(0);
      });

    describe('with shared credentials (tenantUsers: false)', () => {
      const shared = { TENANTCTL_TENANT_USERS: 'false' };
      it('refuses what would run tenant code as the admin unless --trust-tenant-code, and says which flag', async () => {
        const slug = ws.slug('s');
        writeFileSync(join(ws.dir, 'noop.sql'), 'select 1;\n');
        const created = await ws.run(['create', slug, '--server', 'a'], shared);
        expect(created.code, created.stderr).toBe(0);
        const first = await ws.run(['backup', slug, '--trust-tenant-code'], shared);
        expect(first.code, first.stderr).toBe(0);
        for (const args of [
          ['migrate-all'],
          ['migrate', slug],
          ['backup', slug],
          ['stats', '--exact'],
          ['restore', slug, '--force'],
          ['move', slug, '--to', 'b'],
          ['seed', slug],
          ['exec', '--sql-file', 'noop.sql', slug, '--yes'],
          ['schema', 'diff', slug],
        ]) {
          const refused = await ws.run(args, shared);
          expect(refused.code, args.join(' ')).toBe(2);
          expect(refused.stderr).toMatch(/no database user of its own.*--trust-tenant-code/);
        }
        // Reading the catalog (and a migration table that runs nothing of the tenant's) needs no trust.
        expect((await ws.run(['stats', slug], shared)).code).toBe(0);
        expect((await ws.run(['migrate-status', slug], shared)).code).toBe(0);
        const trusted = await ws.run(['migrate-all', '--tenants', slug, '--trust-tenant-code'], shared);
        expect(trusted.code, trusted.stderr).toBe(0);
        const restored = await ws.run(['restore', slug, '--force', '--trust-tenant-code'], shared);
        expect(restored.code, restored.stderr).toBe(0);
      });
    });

    /**
     * A custom-format archive whose one FUNCTION entry was rewritten, byte for byte in place, to
     * leave any SET ROLE, create a superuser and run a program on the database host.
     */
    async function forgedArchive(trophy: { name: string; marker: string }): Promise<Buffer> {
      const database = `tenantctl_forge_${randomBytes(4).toString('hex')}`;
      await query('a', `create database "${database}"`);
      try {
        await query(
          'a',
          `create function public.forged() returns int language sql as $$ select 1 /*${'x'.repeat(200)}*/ $$`,
          [],
          database,
        );
        const url = new URL(SERVER_URLS.postgres);
        const archive = execFileSync('pg_dump', [
          '--format=custom',
          '--host',
          url.hostname,
          '--port',
          url.port,
          '--username',
          decodeURIComponent(url.username),
          '--dbname',
          database,
        ]);
        const text = archive.toString('latin1');
        const start = text.indexOf('CREATE FUNCTION public.forged()');
        const end = text.indexOf('$$;', start) + 3;
        expect(start).toBeGreaterThan(0);
        const payload = `RESET ROLE; CREATE ROLE "${trophy.name}" SUPERUSER LOGIN; COPY (SELECT 1) TO PROGRAM 'touch ${trophy.marker}';`;
        expect(payload.length).toBeLessThan(end - start);
        const forged = Buffer.from(archive);
        forged.write(payload.padEnd(end - start, ' '), start, 'latin1');
        return forged;
      } finally {
        await query('a', `drop database if exists "${database}" with (force)`);
      }
    }
  });
}
