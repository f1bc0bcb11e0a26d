import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');
const MIGRATION = '20240101000000_notes.js';

describe.skipIf(!reachable.includes('postgres'))("the knexfile's migrations.schemaName on postgres", () => {
  let ws: Workspace;
  const flags = ['--knexfile', 'knexfile.cjs', '--admin-setup', 'schema-setup.cjs'];
  beforeAll(() => {
    ws = new Workspace('postgres');
    // The application keeps knex's tables in a schema of their own, which the admin makes for the tenant.
    writeFileSync(
      join(ws.dir, 'knexfile.cjs'),
      `module.exports = { client: 'postgresql', connection: process.env.DATABASE_URL,
  migrations: { schemaName: 'app', tableName: 'migration', directory: './schema-migrations' } };
`,
    );
    writeFileSync(
      join(ws.dir, 'schema-setup.cjs'),
      `exports.setup = async (knex, tenant) => knex.raw('create schema if not exists app authorization ??', [tenant.user]);\n`,
    );
    mkdirSync(join(ws.dir, 'schema-migrations'));
    writeFileSync(
      join(ws.dir, 'schema-migrations', MIGRATION),
      `exports.up = (knex) => knex.schema.createTable('notes', (t) => { t.increments('id'); });
exports.down = (knex) => knex.schema.dropTable('notes');
`,
    );
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it('create, migrate-status, stats, doctor, rollback and migrate-all all read app.migration', async () => {
    const slug = ws.slug();
    const created = await ws.json(['create', slug, '--no-seed', ...flags]);
    expect(created.result.code, created.result.stderr).toBe(0);
    expect(created.data.migrations).toEqual([MIGRATION]);
    const db = ws.probe.admin(ws.names(slug).database);
    try {
      expect(await db.withSchema('app').from('migration').pluck('name')).toEqual([MIGRATION]);
      expect(await db.schema.withSchema('public').hasTable('migration')).toBe(false);
    } finally {
      await db.destroy();
    }

    const status = await ws.json(['migrate-status', ...flags]);
    expect(status.result.code, status.result.stderr).toBe(0);
    const mine = status.data.tenants.find((t: { slug: string }) => t.slug === slug);
    expect(mine).toMatchObject({ applied: 1, latest: MIGRATION, pending: [], unknown: [] });

    const stats = await ws.json(['stats', slug, ...flags]);
    expect(stats.data.tenants[0]).toMatchObject({ slug, pendingMigrations: 0 });
    const doctor = await ws.json(['doctor', ...flags]);
    const kinds = doctor.data.findings
      .filter((f: { tenant?: string }) => f.tenant === slug)
      .map((f: { kind: string }) => f.kind);
    expect(kinds).not.toContain('pending_migrations');
    expect(kinds).not.toContain('tampered_migrations');

    const dry = await ws.json(['rollback', slug, '--dry-run', ...flags]);
    expect(dry.result.code, dry.result.stderr).toBe(0);
    expect(dry.data.tenants[0]).toMatchObject({ outcome: 'pending', migrations: [MIGRATION] });
    const back = await ws.json(['rollback', slug, ...flags]);
    expect(back.data.tenants[0]).toMatchObject({ outcome: 'rolled_back', migrations: [MIGRATION] });
    const again = await ws.json(['migrate-all', '--tenants', slug, ...flags]);
    expect(again.data.tenants[0]).toMatchObject({ outcome: 'migrated', migrations: [MIGRATION] });
    const idle = await ws.json(['migrate-all', '--tenants', slug, ...flags]);
    expect(idle.data.tenants[0]).toMatchObject({ outcome: 'up_to_date', migrations: [] });
  }, 180_000);
});
