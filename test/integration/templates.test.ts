import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { withTenantDb } from '../helpers/tenant-db.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

/** A trigger that lower-cases a new user's email, in each engine's own words: templates carry code too. */
const TRIGGER: Record<string, string[]> = {
  mysql: ['create trigger users_lower_email before insert on users for each row set new.email = lower(new.email)'],
  postgres: [
    'create function lower_email() returns trigger language plpgsql as $$ begin new.email := lower(new.email); return new; end $$',
    'create trigger users_lower_email before insert on users for each row execute function lower_email()',
  ],
  sqlite: [
    'create trigger users_lower_email after insert on users begin update users set email = lower(new.email) where id = new.id; end',
  ],
};

/** The migration table as a replayed create leaves it: names and batches, in order. */
async function migrationRows(ws: Workspace, slug: string): Promise<Array<{ name: string; batch: number }>> {
  return withTenantDb(ws, slug, async (db) =>
    (await db('knex_migrations').select('name', 'batch').orderBy('id')).map((r) => ({
      name: String(r.name),
      batch: Number(r.batch),
    })),
  );
}

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`schema templates on ${engine}`, () => {
    let ws: Workspace;
    const replayed = { slug: '' };
    const templated = { slug: '' };

    beforeAll(async () => {
      ws = new Workspace(engine);
      writeFileSync(
        join(ws.dir, 'migrations', '20240101000200_lower_email_trigger.js'),
        `exports.up = async (knex) => { for (const sql of ${JSON.stringify(TRIGGER[engine])}) await knex.raw(sql); };\n` +
          'exports.down = async () => {};\n',
      );
      replayed.slug = ws.slug('rp');
      templated.slug = ws.slug('tp');
    });
    afterAll(async () => {
      await ws.run(['template', 'drop']);
      await ws.cleanup();
    });

    it('a templated tenant is indistinguishable from a replayed one', async () => {
      const first = await ws.json(['create', replayed.slug, '--replay', '--no-seed']);
      expect(first.result.code, first.result.stderr).toBe(0);
      expect(first.data.template).toBeNull();
      const second = await ws.json(['create', templated.slug, '--no-seed']);
      expect(second.result.code, second.result.stderr).toBe(0);
      expect(second.data.template).toMatchObject({ built: true });
      expect(second.data.migrations).toEqual(first.data.migrations);
      expect(await migrationRows(ws, templated.slug)).toEqual(await migrationRows(ws, replayed.slug));
      // The structure fingerprint (schema diff's), the replayed tenant's the expected one.
      const diff = await ws.json(['schema', 'diff', templated.slug, '--reference', replayed.slug]);
      expect(diff.result.code, diff.result.stderr).toBe(0);
      expect(diff.data.variants).toHaveLength(1);
      expect(diff.data.variants[0]).toMatchObject({ expected: true, count: 1, differences: [] });
      // The trigger came along, and works.
      const email = await withTenantDb(ws, templated.slug, async (db) => {
        await db('users').insert({ email: 'Mixed@Case.TEST', name: 'Trigger' });
        return (await db('users').where({ name: 'Trigger' }).first()).email;
      });
      expect(email).toBe('mixed@case.test');
      if (engine === 'postgres') {
        // Owners and grants: every object the tenant's, with the same ACLs as a replayed create's.
        const acl = (slug: string) =>
          withTenantDb(ws, slug, async (db) => {
            const user = ws.names(slug).user!;
            const result = await db.raw(
              "select c.relname, pg_get_userbyid(c.relowner) as owner, c.relacl::text as acl from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public' order by 1",
            );
            return JSON.stringify(result.rows).replaceAll(user, 'TENANT');
          });
        expect(await acl(templated.slug)).toEqual(await acl(replayed.slug));
      }
    }, 90_000);

    it('template list says current; the next create copies the same template', async () => {
      const list = await ws.json(['template', 'list']);
      expect(list.result.code, list.result.stderr).toBe(0);
      expect(list.data).toHaveLength(1);
      expect(list.data[0]).toMatchObject({ state: 'ready', stale: false, migrations: 3 });
      const slug = ws.slug('tq');
      const created = await ws.json(['create', slug]);
      expect(created.result.code, created.result.stderr).toBe(0);
      expect(created.data.template).toEqual({ database: list.data[0].database, built: false });
    });

    it('templates: off replays', async () => {
      const slug = ws.slug('to');
      const created = await ws.json(['create', slug, '--no-seed'], { TENANTCTL_TEMPLATES: 'off' });
      expect(created.result.code, created.result.stderr).toBe(0);
      expect(created.data.template).toBeNull();
    });
  });
}
