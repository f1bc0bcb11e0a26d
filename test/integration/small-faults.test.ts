import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import knexFactory from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { encryptSecret, parseSecretKey } from '../../src/core/secrets.js';
import { SERVER_URLS, selectedEngines } from '../helpers/engines.js';
import { registryDatabase } from '../helpers/registry-database.js';
import { canQuery } from '../helpers/server-probe.js';
import { sqliteKnex } from '../helpers/sqlite-knex.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');
const KEY = randomBytes(32).toString('hex');

// Overlong text on a server registry (PostgreSQL and MySQL enforce their column lengths, so
// these used to fail half-way, after the database was touched) and on the embedded one.
for (const engine of selectedEngines()) {
  describe.skipIf(!reachable.includes(engine))(`overlong --name, --plan and --reason (${engine})`, () => {
    const registry = engine === 'sqlite' ? undefined : registryDatabase(engine);
    let ws: Workspace;
    let slug: string;
    beforeAll(async () => {
      await registry?.create();
      ws = new Workspace(engine, {
        env: registry ? { TENANTCTL_REGISTRY_URL: registry.url, TENANTCTL_SECRET_KEY: KEY } : {},
      });
      slug = ws.slug();
      expect((await ws.run(['create', slug, '--no-seed', '--plan', 'basic'])).code).toBe(0);
    }, 120_000);
    afterAll(async () => {
      await ws.cleanup();
      await registry?.drop();
    });

    it('refuses each with exit 2 and changes nothing', async () => {
      const fresh = ws.slug();
      const created = await ws.run(['create', fresh, '--name', 'n'.repeat(256)]);
      expect(created.code, created.stderr).toBe(2);
      expect(created.stderr).toMatch(/--name is 256 characters long; at most 255/);
      expect((await ws.run(['show', fresh])).code).toBe(3);
      expect((await ws.run(['create', fresh, '--plan', 'p'.repeat(65)])).code).toBe(2);
      expect((await ws.run(['show', fresh])).code).toBe(3);

      const updated = await ws.run(['update', slug, '--plan', 'p'.repeat(65)]);
      expect(updated.code, updated.stderr).toBe(2);
      expect((await ws.json(['show', slug])).data.plan).toBe('basic');

      const suspended = await ws.run(['suspend', slug, '--reason', 'r'.repeat(1001)]);
      expect(suspended.code, suspended.stderr).toBe(2);
      const shown = await ws.json(['show', slug, '--show-password']);
      expect(shown.data).toMatchObject({ status: 'active', step: null });
      // Never locked out while the registry says active: its own user still logs in.
      const { database, user } = ws.names(slug);
      expect(await canQuery(ws.probe.connectAs(database, user, shown.data.password ?? null))).toBe(true);
      // A reason of the longest kept length is fine (multi-byte characters count as one).
      expect((await ws.run(['suspend', slug, '--reason', 'é'.repeat(1000)])).code).toBe(0);
      expect((await ws.json(['show', slug])).data.statusReason).toBe('é'.repeat(1000));
      expect((await ws.run(['reactivate', slug])).code).toBe(0);
    });
  });
}

// User code must not end tenantctl: a migration calling process.exit() fails its tenant only.
for (const engine of selectedEngines().filter((e) => e !== 'mysql')) {
  describe.skipIf(!reachable.includes(engine))(`a migration that calls process.exit (${engine})`, () => {
    let ws: Workspace;
    let migrations: string;
    beforeAll(() => {
      ws = new Workspace(engine);
      migrations = mkdtempSync(join(tmpdir(), 'tenantctl-exiting-migrations-'));
      cpSync(join(ws.dir, 'migrations'), migrations, { recursive: true });
    });
    afterAll(async () => {
      rmSync(migrations, { recursive: true, force: true });
      await ws.cleanup();
    });

    it('fails that tenant, and the run goes on and reports', { timeout: 120_000 }, async () => {
      const slugs = [ws.slug(), ws.slug()];
      for (const slug of slugs) expect((await ws.run(['create', slug, '--no-seed'])).code).toBe(0);
      writeFileSync(
        join(migrations, '990_exits.js'),
        'exports.up = async () => { process.exit(0); };\nexports.down = async () => {};\n',
      );
      const run = await ws.json(['migrate-all', '--tenants', slugs.join(','), '--concurrency', '1'], {
        TENANTCTL_MIGRATIONS_DIR: migrations,
      });
      expect(run.result.code, run.result.stderr).toBe(1);
      expect(run.data.tenants.map((t: { outcome: string }) => t.outcome)).toEqual(['failed', 'failed']);
      expect(run.data.tenants[0].error).toMatch(/called process\.exit\(0\)/);
      const created = await ws.run(['create', ws.slug(), '--no-seed'], { TENANTCTL_MIGRATIONS_DIR: migrations });
      expect(created.code, created.stderr).toBe(1);
      expect(created.stderr).toMatch(/process\.exit/);
    });
  });
}

describe.skipIf(!reachable.includes('postgres'))('backup byte totals with a PostgreSQL registry', () => {
  const registry = registryDatabase('postgres');
  let ws: Workspace;
  beforeAll(async () => {
    await registry.create();
    ws = new Workspace('postgres', { env: { TENANTCTL_REGISTRY_URL: registry.url, TENANTCTL_SECRET_KEY: KEY } });
  });
  afterAll(async () => {
    await ws.cleanup();
    await registry.drop();
  });

  it(
    'adds the tenants bytes as numbers (the registry returns bigint columns as strings)',
    { timeout: 120_000 },
    async () => {
      const slugs = [ws.slug(), ws.slug()];
      for (const slug of slugs) expect((await ws.run(['create', slug])).code).toBe(0);
      const backup = await ws.json(['backup', '--all']);
      expect(backup.result.code, backup.result.stderr).toBe(0);
      const each = backup.data.tenants.tenants.map((t: { backup: { bytes: unknown } }) => t.backup.bytes);
      for (const bytes of each) expect(typeof bytes).toBe('number');
      expect(backup.data.tenants.bytes).toBe(each.reduce((a: number, b: number) => a + b, 0));
      const human = await ws.run(['backup', '--all']);
      expect(human.stdout).toMatch(/2 of 2 tenants backed up \(\d+(\.\d+)? (B|KB|MB)\)/);
    },
  );
});

// An admin password with a line break: MySQL's option files take it escaped; PostgreSQL's
// password file cannot hold it, so it is refused before it is stored, and a restore through a
// server that has one (stored before this check) changes nothing.
describe.skipIf(!reachable.includes('mysql'))('an admin password with a line break on MySQL/MariaDB', () => {
  const admin = `tnl${randomBytes(3).toString('hex')}`;
  const password = 'line\nbreak"and\\slash';
  const root = knexFactory({ client: 'mysql2', connection: SERVER_URLS.mysql, pool: { min: 0, max: 1 } });
  let ws: Workspace;
  beforeAll(async () => {
    await root.raw('create user ?@? identified by ?', [admin, '%', password]);
    await root.raw('grant all privileges on *.* to ?@? with grant option', [admin, '%']);
    ws = new Workspace('mysql', { env: { TENANTCTL_SERVER_URL: undefined } });
  });
  afterAll(async () => {
    await ws.cleanup();
    await root.raw('drop user if exists ?@?', [admin, '%']);
    await root.destroy();
  });

  it('serves every dump and restore', { timeout: 180_000 }, async () => {
    const url = `mysql://${admin}@127.0.0.1:${new URL(SERVER_URLS.mysql).port}`;
    const added = await ws.run(['server', 'add', 'nl', '--url', url], { TENANTCTL_SERVER_PASSWORD: password });
    expect(added.code, added.stderr).toBe(0);
    const slug = ws.slug();
    expect((await ws.run(['create', slug, '--server', 'nl'])).code).toBe(0);
    const backup = await ws.run(['backup', slug]);
    expect(backup.code, backup.stderr).toBe(0);
    const verified = await ws.run(['backup', 'verify', slug, '--restore-test']);
    expect(verified.code, verified.stderr).toBe(0);
    const restored = await ws.run(['restore', slug, '--force']);
    expect(restored.code, restored.stderr).toBe(0);
    expect((await ws.json(['show', slug])).data.status).toBe('active');
  });
});

describe.skipIf(!reachable.includes('postgres'))('an admin password with a line break on PostgreSQL', () => {
  let ws: Workspace;
  beforeAll(() => {
    ws = new Workspace('postgres');
  });
  afterAll(async () => {
    await ws.cleanup();
  });

  it(
    'is refused by server add and update (exit 2), and a restore through one changes nothing',
    { timeout: 120_000 },
    async () => {
      const url = new URL(SERVER_URLS.postgres);
      url.port = '5433';
      const added = await ws.run(['server', 'add', 'nl', '--url', url.toString()], {
        TENANTCTL_SERVER_PASSWORD: 'line\nbreak',
      });
      expect(added.code, added.stderr).toBe(2);
      expect(added.stderr).toMatch(/line break/);
      expect((await ws.json(['server', 'list'])).data.map((s: { name: string }) => s.name)).not.toContain('nl');

      const slug = ws.slug();
      expect((await ws.run(['create', slug])).code).toBe(0);
      expect((await ws.run(['backup', slug])).code).toBe(0);
      const server = (await ws.json(['show', slug])).data.server as string;
      const refused = await ws.run(['server', 'update', server], { TENANTCTL_SERVER_PASSWORD: 'line\nbreak' });
      expect(refused.code, refused.stderr).toBe(2);
      expect(refused.stderr).toMatch(/line break/);

      // A password stored before this check: the restore refuses it before touching the tenant.
      const registry = sqliteKnex(join(ws.dir, '.tenantctl', 'registry.sqlite'));
      try {
        const key = parseSecretKey(readFileSync(join(ws.dir, '.tenantctl', 'secret.key'), 'utf8'));
        await registry('tenantctl_servers')
          .where({ name: server })
          .update({ admin_password_enc: encryptSecret('line\nbreak', key), key_fingerprint: null });
      } finally {
        await registry.destroy();
      }
      const restored = await ws.run(['restore', slug, '--force']);
      expect(restored.code, restored.stderr).toBe(2);
      expect(restored.stderr).toMatch(/server update .* --password-stdin.*nothing was changed/);
      const shown = await ws.json(['show', slug, '--show-password']);
      expect(shown.data).toMatchObject({ status: 'active', step: null });
      const { database, user } = ws.names(slug);
      expect(
        await canQuery(ws.probe.connectAs(database, user, shown.data.password), 'select count(*) from users'),
      ).toBe(true);
    },
  );
});
