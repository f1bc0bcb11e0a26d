import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { selectedEngines } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';
import { openFleet, TenantSuspendedError } from '../../src/index.js';

const reachable = inject('reachableEngines');
const run = promisify(execFile);

/** Runs `select 42` with the engine's own command-line client over the URL; resolves its output. */
async function clientSelect(engine: 'postgres' | 'mysql', url: string): Promise<string> {
  if (engine === 'postgres')
    return (await run('psql', [url, '-Atc', 'select 42'], { env: { PATH: process.env.PATH } })).stdout;
  // The mariadb client takes no URL: its parts, the password through the environment.
  const u = new URL(url);
  const args = ['-h', u.hostname, '-P', u.port, '-u', decodeURIComponent(u.username), '-N', '-e', 'select 42'];
  const env = { PATH: process.env.PATH, MYSQL_PWD: decodeURIComponent(u.password) };
  return (await run('mariadb', [...args, decodeURIComponent(u.pathname.slice(1))], { env })).stdout;
}

for (const engine of selectedEngines().filter((e): e is 'postgres' | 'mysql' => e !== 'sqlite')) {
  describe.skipIf(!reachable.includes(engine))(`connection URLs on ${engine}`, () => {
    const prefix = `url${randomBytes(3).toString('hex')}`;
    let ws: Workspace;
    let slug: string;
    const database = () => `${prefix}_${slug}`;
    beforeAll(async () => {
      ws = new Workspace(engine, {
        env: { TENANTCTL_DATABASE_NAME_TEMPLATE: `${prefix}_{slug}`, TENANTCTL_USER_NAME_TEMPLATE: `${prefix}_{slug}` },
      });
      slug = ws.slug();
      const created = await ws.run(['create', slug]);
      expect(created.code, created.stderr).toBe(0);
    });
    afterAll(async () => {
      await ws.probe.drop(database(), database()).catch(() => undefined);
      await ws.cleanup();
    });

    it('prints the URL without the password unless asked; with it, the URL connects with the engine client', async () => {
      const scheme = engine === 'postgres' ? 'postgresql' : 'mysql';
      const port = engine === 'postgres' ? 5432 : 3306;
      const hidden = await ws.run(['url', slug]);
      expect(hidden.code, hidden.stderr).toBe(0);
      expect(hidden.stdout.trim()).toBe(`${scheme}://${database()}@127.0.0.1:${port}/${database()}`);
      const shown = await ws.run(['url', slug, '--show-password']);
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.stderr).toBe(''); // stdout is a pipe, not a terminal: no warning
      const url = shown.stdout.trim();
      const password = decodeURIComponent(new URL(url).password);
      expect(password.length).toBeGreaterThan(10);
      expect((await ws.json(['show', slug, '--show-password'])).data.password).toBe(password);
      expect((await clientSelect(engine, url)).trim()).toBe('42');

      const json = await ws.json(['url', slug]);
      expect(json.data).toMatchObject({
        slug,
        engine,
        host: '127.0.0.1',
        port,
        user: database(),
        database: database(),
      });
      expect(json.data).not.toHaveProperty('password');
    });

    it('--format env --env-name --output writes NAME=URL to a 0600 file; the library gives the same', async () => {
      const file = join(ws.dir, 'tenant.env');
      const written = await ws.run([
        'url',
        slug,
        '--show-password',
        '--format',
        'env',
        '--env-name',
        'TENANT_DB',
        '--output',
        file,
      ]);
      expect(written.code, written.stderr).toBe(0);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const line = readFileSync(file, 'utf8');
      expect(line).toMatch(/^TENANT_DB=\S+\n$/);
      const url = line.trim().slice('TENANT_DB='.length);
      expect((await clientSelect(engine, url)).trim()).toBe('42');
      expect((await ws.run(['url', slug, '--env-name', 'no-good', '--format', 'env'])).code).toBe(2);
      expect((await ws.run(['url', slug, '--format', 'yaml'])).code).toBe(2);

      const fleet = await openFleet({
        registryUrl: `sqlite:${join(ws.dir, '.tenantctl', 'registry.sqlite')}`,
        secretKeyFile: join(ws.dir, '.tenantctl', 'secret.key'),
        cacheTtlMs: 0,
        readOnly: true,
      });
      try {
        expect(await fleet.connectionString(slug)).toBe(url);
        const config = await fleet.connectionConfig(slug);
        expect(config).toEqual({
          engine,
          host: '127.0.0.1',
          port: engine === 'postgres' ? 5432 : 3306,
          user: database(),
          password: decodeURIComponent(new URL(url).password),
          database: database(),
          ssl: null,
        });
        // Suspended: refused, like knex(), by the library and the CLI.
        expect((await ws.run(['suspend', slug, '--reason', 'unpaid'])).code).toBe(0);
        await expect(fleet.connectionString(slug)).rejects.toBeInstanceOf(TenantSuspendedError);
        await expect(fleet.connectionConfig(slug)).rejects.toBeInstanceOf(TenantSuspendedError);
        const refused = await ws.run(['url', slug]);
        expect(refused.code).toBe(4);
        expect(refused.stderr).toMatch(/suspended \(unpaid\)/);
        expect((await ws.run(['reactivate', slug])).code).toBe(0);
      } finally {
        await fleet.close();
      }
    });
  });
}
