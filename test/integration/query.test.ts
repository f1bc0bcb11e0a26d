import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { sqliteKnex } from '../helpers/sqlite-knex.js';
import { withTenantDb } from '../helpers/tenant-db.js';
import { Workspace } from '../helpers/workspace.js';
import { createContext } from '../../src/index.js';
import { listTenantRows } from '../../src/registry/tenants-repo.js';
import { tenantLogin } from '../../src/lifecycle/shared/tenant-login.js';

const reachable = inject('reachableEngines');

/** RFC 4180 CSV, as a spreadsheet would read it. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') ((field += '"'), i++);
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') (row.push(field), (field = ''));
    else if (c === '\r' && text[i + 1] === '\n') {
      (row.push(field), rows.push(row), (row = []), (field = ''), i++);
    } else field += c;
  }
  return rows;
}

/** Writes that the read-only session must refuse on each engine, bypassing the statement check. */
const WRITES: Record<string, string[]> = {
  postgres: [
    "insert into users (email, name) values ('w1@x', 'w')",
    "with w as (insert into users (email, name) values ('w2@x', 'w') returning id) select * from w",
    'select tq_write()',
    'select 1; delete from users',
    'create table tq_new (a int)',
    'drop table audit_log',
  ],
  mysql: [
    "insert into users (email, name) values ('w1@x', 'w')",
    'update users set name = 0',
    'select 1; delete from users',
    'create table tq_new (a int)',
    'drop table audit_log',
  ],
  sqlite: [
    "insert into users (email, name) values ('w1@x', 'w')",
    'delete from users',
    'select 1; delete from users',
    'create table tq_new (a int)',
    'drop table audit_log',
  ],
};

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`query on ${engine}`, () => {
    let ws: Workspace;
    const slugs: string[] = [];
    const registryFile = () => join(ws.dir, '.tenantctl', 'registry.sqlite');

    beforeAll(async () => {
      ws = new Workspace(engine);
      for (let i = 0; i < 3; i++) {
        const slug = ws.slug('q');
        slugs.push(slug);
        const created = await ws.run(['create', slug]);
        expect(created.code, created.stderr).toBe(0);
      }
      // The first tenant has two more users, one whose name needs quoting in CSV.
      await withTenantDb(ws, slugs[0]!, async (db) => {
        await db('users').insert([
          { email: 'a@x', name: 'Doe, "J"' },
          { email: 'b@x', name: 'line\nbreak' },
        ]);
        if (engine === 'postgres')
          await db.raw(
            "create function tq_write() returns int language sql as $$ insert into users (email, name) values ('f@x', 'f') returning id $$",
          );
      });
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    it('reads every tenant as itself: ndjson, csv and json parse, with --param and --aggregate', async () => {
      const nd = await ws.run([
        'query',
        'select count(*) as n from users where id > :min',
        '--all',
        '--param',
        'min=0',
        '--format',
        'ndjson',
      ]);
      expect(nd.code, nd.stderr).toBe(0);
      const lines = nd.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines.map((l) => l.tenant).sort()).toEqual([...slugs].sort());
      expect(Object.keys(lines[0])[0]).toBe('tenant');
      const counts: Record<string, number> = Object.fromEntries(lines.map((l) => [l.tenant, Number(l.n)]));
      expect(counts[slugs[0]!]).toBe(counts[slugs[1]!]! + 2);

      const csv = await ws.run(['query', 'select email, name from users order by id', slugs[0]!, '--format', 'csv']);
      expect(csv.code, csv.stderr).toBe(0);
      const table = parseCsv(csv.stdout);
      expect(table[0]).toEqual(['tenant', 'email', 'name']);
      expect(table).toContainEqual([slugs[0], 'a@x', 'Doe, "J"']);
      expect(table).toContainEqual([slugs[0], 'b@x', 'line\nbreak']);

      const { result, data } = await ws.json(['query', 'select count(*) as n from users', '--all', '--aggregate', 'n']);
      expect(result.code, result.stderr).toBe(0);
      expect(data.rows).toHaveLength(3);
      expect(data.counts).toMatchObject({ ok: 3, failed: 0, unreachable: 0, busy: 0 });
      expect(data.aggregate).toMatchObject({
        column: 'n',
        tenants: 3,
        sum: Object.values(counts).reduce((a: number, b) => a + Number(b), 0),
        max: counts[slugs[0]!],
      });

      if (engine !== 'sqlite') {
        // As the tenant's own user, never the admin.
        const who =
          engine === 'postgres' ? 'select current_user as u' : "select substring_index(current_user(), '@', 1) as u";
        const me = await ws.json(['query', who, '--all']);
        for (const row of me.data.rows) expect(row.u).toBe(ws.names(row.tenant).user);
      }

      // --sql-file, with a comment and a final semicolon; every argument is then a slug.
      const file = join(ws.dir, 'q.sql');
      writeFileSync(file, '-- how many users\nselect count(*) as n\n  from users;\n');
      const fromFile = await ws.json(['query', '--sql-file', file, slugs[1]!, slugs[2]!]);
      expect(fromFile.result.code, fromFile.result.stderr).toBe(0);
      expect(fromFile.data.rows.map((r: { tenant: string }) => r.tenant).sort()).toEqual([slugs[1], slugs[2]].sort());
    });

    it('refuses what is not one read before it runs anywhere (exit 2)', async () => {
      for (const sql of [
        "insert into users (email, name) values ('x@x', 'x')",
        'select 1; delete from users',
        'drop table users',
        'with w as (delete from users returning id) select * from w',
      ]) {
        const refused = await ws.run(['query', sql, '--all']);
        expect(refused.code, `${sql}: ${refused.stderr}`).toBe(2);
      }
      expect((await ws.run(['query', 'select 1'])).code).toBe(2); // no selection
    });

    it('a write that gets past the check changes nothing: the read-only session refuses it', async () => {
      const before = await Promise.all(slugs.map((s) => withTenantDb(ws, s, (db) => db('users').count({ n: '*' }))));
      const ctx = createContext(
        {
          migrationsDir: join(ws.dir, 'migrations'),
          ...(engine === 'sqlite' ? {} : { serverUrl: ws.env.TENANTCTL_SERVER_URL }),
        },
        { cwd: ws.dir },
      );
      try {
        const [row] = await listTenantRows((await ctx.registry()).knex, { slugs: [slugs[0]!] });
        const server = await ctx.server(row!.server_id);
        const login = tenantLogin(ctx, server, row!);
        // The same session answers a read: what is refused below is the write, not the login.
        const read = await server.connection.readOnlyQuery(login, 'select count(*) as n from users', {
          timeoutMs: 10_000,
        });
        expect(read.columns).toEqual(['n']);
        for (const sql of WRITES[engine]!)
          await expect(server.connection.readOnlyQuery(login, sql, { timeoutMs: 10_000 }), sql).rejects.toThrow();
      } finally {
        await ctx.close();
      }
      // And through the CLI: a function that writes looks like a read.
      if (engine === 'postgres') {
        const fn = await ws.json(['query', 'select tq_write()', slugs[0]!]);
        expect(fn.result.code).toBe(1);
        expect(fn.data.tenants[0]).toMatchObject({ outcome: 'failed', error: expect.stringMatching(/read-only/) });
      }
      const after = await Promise.all(slugs.map((s) => withTenantDb(ws, s, (db) => db('users').count({ n: '*' }))));
      expect(after).toEqual(before);
      await withTenantDb(ws, slugs[0]!, async (db) => {
        expect(await db.schema.hasTable('audit_log')).toBe(true);
        expect(await db.schema.hasTable('tq_new')).toBe(false);
      });
    });

    it('a tenant with an operation under way is busy; the others answer; exit 1', async () => {
      // What a restore records before it replaces the database (a read takes no tenant's lock).
      const setStep = async (step: string | null) => {
        const registry = sqliteKnex(registryFile());
        try {
          await registry('tenantctl_tenants').where({ slug: slugs[0] }).update({ step });
        } finally {
          await registry.destroy();
        }
      };
      await setStep('restore');
      try {
        const { result, data } = await ws.json(['query', 'select count(*) as n from users', '--all']);
        expect(result.code, result.stderr).toBe(1);
        expect(data.counts).toMatchObject({ ok: 2, busy: 1 });
        expect(data.tenants.find((t: { slug: string }) => t.slug === slugs[0])).toMatchObject({
          outcome: 'busy',
          error: 'busy: restore in progress',
        });
      } finally {
        await setStep(null);
      }
    });

    // SQLite has no statement timeout to reach and no second server: these are the servers' own.
    if (engine !== 'sqlite') {
      it('stops a tenant at --timeout and reports it failed', async () => {
        // A statement far longer than the timeout: the process ending well before it proves the
        // cut, whatever the machine's load adds to start-up.
        const sleep = engine === 'postgres' ? 'select pg_sleep(30) as s' : 'select sleep(30) as s';
        const started = Date.now();
        const { result, data } = await ws.json(['query', sleep, slugs[1]!, '--timeout', '1s']);
        expect(Date.now() - started).toBeLessThan(20_000);
        expect(result.code).toBe(1);
        expect(data.tenants[0]).toMatchObject({
          outcome: 'failed',
          error: expect.stringMatching(/timeout|interrupted|max_statement_time/i),
        });
      });

      it('across two servers, one down: ok, failed and unreachable per tenant, the others read, exit 1', async () => {
        // A server whose address refuses connections (a closed port), holding the third tenant.
        const registry = sqliteKnex(registryFile());
        try {
          const main = await registry('tenantctl_servers').first();
          const [id] = await registry('tenantctl_servers').insert({
            ...main,
            id: undefined,
            name: 'down',
            port: 1,
            identity: null,
          });
          await registry('tenantctl_tenants').where({ slug: slugs[2] }).update({ server_id: id });
        } finally {
          await registry.destroy();
        }
        // The second tenant lacks the table: it fails with the database's message, the first answers.
        await withTenantDb(ws, slugs[1]!, (db) => db.schema.dropTable('audit_log'));
        const { result, data } = await ws.json(['query', 'select count(*) as n from audit_log', '--all']);
        expect(result.code, result.stderr).toBe(1);
        const outcome = Object.fromEntries(
          data.tenants.map((t: { slug: string; outcome: string }) => [t.slug, t.outcome]),
        );
        expect(outcome).toEqual({ [slugs[0]!]: 'ok', [slugs[1]!]: 'failed', [slugs[2]!]: 'unreachable' });
        expect(data.tenants.find((t: { slug: string }) => t.slug === slugs[1]).error).toMatch(/audit_log/);
        expect(data.rows.map((r: { tenant: string }) => r.tenant)).toEqual([slugs[0]]);
        expect(data.unreachableServers).toEqual([expect.objectContaining({ server: 'down', tenants: 1 })]);
        // The table at a terminal goes on too, and says what is missing.
        const human = await ws.run(['query', 'select count(*) as n from users', '--all']);
        expect(human.code).toBe(1);
        expect(human.stdout).toMatch(/server down .*unreachable: connection refused; 1 tenant not read/);
      });
    }
  });
}
