import { cpSync, mkdirSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { FIXTURES, Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');
const MIGRATION = '20240101000000_users.js';

/** The application's knexfile, as the knex CLI would read it (its development environment). */
function applicationSettings(knexfile: string): Knex.Config {
  const require = createRequire(import.meta.url);
  return (require(knexfile) as { development: Knex.Config }).development;
}

for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`the project's knexfile on ${engine}`, () => {
    let ws: Workspace;
    let knexfile: string;
    beforeAll(() => {
      // Vitest sets NODE_ENV=test, which this knexfile has no environment for.
      ws = new Workspace(engine, { env: { TENANTCTL_KNEX_ENV: 'development' } });
      // A Knex application copied unchanged: its package.json, db/knexfile.js, migrations, seeds.
      cpSync(join(FIXTURES, 'knexfile-project'), join(ws.dir, 'app'), { recursive: true });
      knexfile = join(ws.dir, 'app', 'db', 'knexfile.js');
      mkdirSync(join(ws.dir, 'empty'));
    });
    afterAll(async () => {
      await ws.cleanup();
    });

    const rows = async (slug: string, sql: string) => {
      const db = ws.probe.admin(ws.names(slug).database);
      try {
        return (await db.select('*').fromRaw(sql)) as Array<Record<string, unknown>>;
      } finally {
        await db.destroy();
      }
    };

    it('create runs its migrations and seeds with its settings, into its migrations table, and says which knexfile', async () => {
      const slug = ws.slug();
      const { result, data } = await ws.json(['create', slug, '--knexfile', 'app/db/knexfile.js']);
      expect(result.code, result.stderr).toBe(0);
      expect(data.knexfile).toBe(knexfile);
      expect(data.migrations).toEqual([MIGRATION]);
      expect(data.seeds).toEqual(['01_users.js']);
      // wrapIdentifier made snake_case columns of the camelCase code; the seed's insert met them.
      const users = await rows(slug, 'users');
      expect(users).toMatchObject([{ first_name: 'Ada', last_name: 'Lovelace' }]);
      expect(users[0]!.created_at).toBeTruthy();
      expect((await rows(slug, 'migration')).map((r) => r.name)).toEqual([MIGRATION]);
      await expect(rows(slug, 'knex_migrations')).rejects.toThrow();

      const human = await ws.run(['create', ws.slug(), '--knexfile', 'app/db/knexfile.js']);
      expect(human.code, human.stderr).toBe(0);
      expect(human.stdout).toMatch(/knexfile\s+\S*app\/db\/knexfile\.js/);

      const status = await ws.json(['migrate-status', '--knexfile', 'app/db/knexfile.js']);
      expect(status.result.code, status.result.stderr).toBe(0);
      const mine = status.data.tenants.find((t: { slug: string }) => t.slug === slug);
      expect(mine).toMatchObject({ applied: 1, latest: MIGRATION, pending: [], unknown: [] });

      // stats and doctor read the same table: nothing pending, nothing tampered with.
      const stats = await ws.json(['stats', slug, '--knexfile', 'app/db/knexfile.js']);
      expect(stats.data.tenants[0]).toMatchObject({ slug, pendingMigrations: 0 });
      const doctor = await ws.json(['doctor', '--knexfile', 'app/db/knexfile.js']);
      const about = doctor.data.findings.filter((f: { tenant?: string }) => f.tenant === slug);
      expect(about.map((f: { kind: string }) => f.kind)).not.toContain('pending_migrations');
      expect(about.map((f: { kind: string }) => f.kind)).not.toContain('tampered_migrations');

      // Rolled back and migrated again through the knexfile's table.
      const back = await ws.json(['rollback', slug, '--knexfile', 'app/db/knexfile.js']);
      expect(back.result.code, back.result.stderr).toBe(0);
      expect(back.data.tenants[0]).toMatchObject({ outcome: 'rolled_back', migrations: [MIGRATION] });
      const again = await ws.json(['migrate-all', '--tenants', slug, '--knexfile', 'app/db/knexfile.js']);
      expect(again.data.tenants[0]).toMatchObject({ outcome: 'migrated', migrations: [MIGRATION] });
    }, 240_000);

    it('a directory given that does not exist is exit 2 before anything is created', async () => {
      for (const [flag, key] of [
        ['--migrations-dir', 'migrationsDir'],
        ['--seeds-dir', 'seedsDir'],
      ] as const) {
        const slug = ws.slug();
        const { result, data } = await ws.json(['create', slug, flag, 'mistyped']);
        expect(result.code, result.stderr).toBe(2);
        expect(data.error.message).toBe(`${key} ${join(ws.dir, 'mistyped')} does not exist`);
        expect(await ws.probe.databaseExists(ws.names(slug).database)).toBe(false);
        expect((await ws.run(['show', slug])).code).not.toBe(0);
      }
      const fleet = await ws.run(['migrate-all', '--migrations-dir', 'mistyped']);
      expect(fleet.code).toBe(2);
      expect(fleet.stderr).toMatch(/migrationsDir \S*mistyped does not exist/);
      // Nothing given and no ./migrations: no migrations, said once.
      renameSync(join(ws.dir, 'migrations'), join(ws.dir, 'away'));
      try {
        const none = await ws.json(['create', ws.slug(), '--no-seed']);
        expect(none.result.code, none.result.stderr).toBe(0);
        expect(none.data.migrations).toEqual([]);
        expect(none.data.migrationsNote).toBe(
          `no migrations directory (${join(ws.dir, 'migrations')}) and none configured (migrationsDir, knexfile)`,
        );
      } finally {
        renameSync(join(ws.dir, 'away'), join(ws.dir, 'migrations'));
      }
    }, 120_000);

    it('a tenant migrated by plain knex under the knexfile has nothing run again by migrate-all', async () => {
      const slug = ws.slug();
      // An empty tenant (the flag's directory wins over the knexfile's), then migrated as the knex CLI would.
      const created = await ws.json([
        'create',
        slug,
        '--no-seed',
        '--knexfile',
        'app/db/knexfile.js',
        '--migrations-dir',
        'empty',
      ]);
      expect(created.result.code, created.result.stderr).toBe(0);
      expect(created.data.migrations).toEqual([]);
      const settings = applicationSettings(knexfile);
      const probe = ws.probe.admin(ws.names(slug).database);
      const plain = knexFactory({ ...probe.client.config, wrapIdentifier: settings.wrapIdentifier });
      await probe.destroy();
      try {
        const [, applied] = (await plain.migrate.latest({
          ...settings.migrations,
          directory: join(ws.dir, 'app', 'db', 'migrations'),
        })) as [number, string[]];
        expect(applied).toEqual([MIGRATION]);
      } finally {
        await plain.destroy();
      }

      const migrated = await ws.json(['migrate-all', '--tenants', slug, '--knexfile', 'app/db/knexfile.js']);
      expect(migrated.result.code, migrated.result.stderr).toBe(0);
      expect(migrated.data.tenants[0]).toMatchObject({ slug, outcome: 'up_to_date' });
      // Without the knexfile, tenantctl would look in knex_migrations: the knexfile is what tells.
      expect((await rows(slug, 'migration')).map((r) => r.name)).toEqual([MIGRATION]);
    }, 240_000);
  });
}
