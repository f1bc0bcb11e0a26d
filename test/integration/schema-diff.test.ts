import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Knex } from 'knex';
import { selectedEngines } from '../helpers/engines.js';
import { withTenantDb } from '../helpers/tenant-db.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

/** Tenants in the fleet (8 rather than 20: the machine is shared); three are changed by hand. */
const FLEET = 8;

/** Gives audit_log.entity a default, as each engine allows (SQLite: the table rebuilt, its indexes too). */
async function changeDefault(engine: string, db: Knex): Promise<void> {
  if (engine !== 'sqlite') {
    await db.raw("alter table audit_log alter column entity set default 'none'");
    return;
  }
  const [table] = await db.raw("select sql from sqlite_master where type = 'table' and name = 'audit_log'");
  const indexes = (await db.raw(
    "select sql from sqlite_master where type = 'index' and tbl_name = 'audit_log' and sql is not null",
  )) as Array<{ sql: string }>;
  const changed = String(table.sql)
    .replace(/([`"]entity[`"] varchar\(64\))/, "$1 default 'none'")
    .replace(/create table [`"]?audit_log[`"]?/i, 'create table `audit_log_new`');
  expect(changed).toContain("default 'none'");
  await db.raw('pragma foreign_keys = off');
  await db.raw(changed);
  await db.raw('insert into audit_log_new select * from audit_log');
  await db.raw('drop table audit_log');
  await db.raw('alter table audit_log_new rename to audit_log');
  for (const { sql } of indexes) await db.raw(sql);
}

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`schema diff on ${engine}`, () => {
    let ws: Workspace;
    const slugs: string[] = [];

    beforeAll(async () => {
      ws = new Workspace(engine);
      for (let i = 0; i < FLEET; i++) {
        const slug = ws.slug('sd');
        slugs.push(slug);
        const created = await ws.run(['create', slug]);
        expect(created.code, created.stderr).toBe(0);
      }
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    it('an unchanged fleet is one variant, the expected one', async () => {
      const { result, data } = await ws.json(['schema', 'diff']);
      expect(result.code, result.stderr).toBe(0);
      expect(data.ok).toBe(true);
      expect(data.variants).toHaveLength(1);
      expect(data.variants[0]).toMatchObject({ name: 'A', expected: true, count: FLEET, differences: [] });
      expect(data.unread).toEqual([]);
      expect(data.cache).toEqual({ cached: 0, read: FLEET, expectedCached: 0 });
      // Again: every catalog unchanged, so every structure is known by its digest, and a fresh
      // tenant's by the migration state; the same answer.
      const again = await ws.json(['schema', 'diff']);
      expect(again.result.code, again.result.stderr).toBe(0);
      expect(again.data.cache).toEqual({ cached: FLEET, read: 0, expectedCached: 1 });
      expect(again.data.variants).toEqual(data.variants);
      // The scratch database the expected structure was built in is gone.
      if (engine !== 'sqlite') {
        const db = ws.probe.admin(engine === 'postgres' ? 'postgres' : 'information_schema');
        try {
          const sql =
            engine === 'postgres'
              ? "select datname from pg_database where datname like 'tenantctl_scratch_%'"
              : "select schema_name from information_schema.schemata where schema_name like 'tenantctl\\_scratch\\_%'";
          const answer = await db.raw(sql);
          expect(engine === 'postgres' ? answer.rows : answer[0]).toEqual([]);
        } finally {
          await db.destroy();
        }
      }
    });

    it('three hand-made changes are three variants, each with its difference; --sql fixes the index', async () => {
      const [withIndex, withoutColumn, withDefault] = slugs;
      await withTenantDb(ws, withIndex!, (db) => db.raw('create index hand_made_idx on users (created_at)'));
      await withTenantDb(ws, withoutColumn!, (db) => db.raw('alter table users drop column password_hash'));
      await withTenantDb(ws, withDefault!, (db) => changeDefault(engine, db));

      const { result, data } = await ws.json(['schema', 'diff']);
      expect(result.code, result.stderr).toBe(1);
      expect(data.unread).toEqual([]);
      // Read in full: the three changed tenants, whose catalog digest moved; the rest known by it.
      expect(data.cache).toMatchObject({ read: 3, cached: FLEET - 3 });
      expect(data.variants).toHaveLength(4);
      const uncached = await ws.json(['schema', 'diff', '--no-cache']);
      expect(uncached.data.cache).toEqual({ cached: 0, read: FLEET, expectedCached: 0 });
      expect(uncached.data.variants).toEqual(data.variants);
      const [expected, ...drifted] = data.variants;
      expect(expected).toMatchObject({ name: 'A', expected: true, count: FLEET - 3 });
      expect(expected.tenants).not.toContain(withIndex);
      const variantOf = (slug: string) => drifted.find((v: { tenants: string[] }) => v.tenants.includes(slug));
      const index = variantOf(withIndex!);
      expect(index.tenants).toEqual([withIndex]);
      expect(index.differences).toEqual([
        expect.objectContaining({ change: '+', kind: 'index', object: expect.stringContaining('hand_made_idx') }),
      ]);
      expect(index.fixes).toEqual([expect.stringMatching(/^drop index .*hand_made_idx/)]);
      const column = variantOf(withoutColumn!);
      expect(column.differences).toEqual([
        expect.objectContaining({ change: '-', kind: 'column', object: 'users.password_hash' }),
      ]);
      expect(column.fixes).toEqual([]);
      expect(column.byHand).toHaveLength(1);
      const dflt = variantOf(withDefault!);
      expect(dflt.differences).toEqual([
        expect.objectContaining({ change: '~', kind: 'column', object: 'audit_log.entity' }),
      ]);
      expect(dflt.differences[0].actual).toContain('none');

      // The same grouping against a reference tenant; and the readable list at a terminal.
      const ref = await ws.json(['schema', 'diff', '--reference', slugs[FLEET - 1]!]);
      expect(ref.data.variants.map((v: { count: number }) => v.count)).toEqual([FLEET - 3, 1, 1, 1]);
      const text = await ws.run(['schema', 'diff', '--sql']);
      expect(text.code).toBe(1);
      expect(text.stdout).toContain('variant B');
      expect(text.stdout).toMatch(/drop index .*hand_made_idx/);
      expect(text.stdout).toContain('by hand: - column users.password_hash missing');

      // doctor --schema-drift: one schema_drift notice per variant that differs.
      const doctor = await ws.json(['doctor', '--schema-drift']);
      const drift = doctor.data.findings.filter((f: { kind: string }) => f.kind === 'schema_drift');
      expect(drift, doctor.result.stderr).toHaveLength(3);
      expect(drift.every((f: { severity: string }) => f.severity === 'notice')).toBe(true);
      expect(drift.map((f: { message: string }) => f.message).join('\n')).toContain('hand_made_idx');
      const plain = await ws.json(['doctor']);
      expect(plain.data.findings.filter((f: { kind: string }) => f.kind === 'schema_drift')).toEqual([]);
    });
  });
}
