import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanEnv } from '../helpers/cli.js';
import { selectedEngines } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';
import { encryptSecret, parseSecretKey } from '../../src/core/secrets.js';
import {
  createContext,
  createTenant,
  openFleet,
  TenantNotFoundError,
  TenantSuspendedError,
  type Fleet,
} from '../../src/index.js';
import { sqliteKnex } from '../helpers/sqlite-knex.js';

const reachable = inject('reachableEngines');
const EXAMPLE = fileURLToPath(new URL('../../examples/http-app/server.mjs', import.meta.url));
const CACHE_TTL_MS = 1000;

/** GET / with a Host header, as a browser on that domain would send it. */
function get(port: number, host: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host } }, (res) => {
      let text = '';
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    req.on('error', reject);
  });
}

/** Starts the example application on a random port; resolves once it listens. */
function startExample(env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [EXAMPLE], {
    env: cleanEnv({ ...env, PORT: '0' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (chunk) => resolve({ child, port: JSON.parse(String(chunk).split('\n')[0]!).listening }));
    child.once('exit', (code) => reject(new Error(`example exited ${code}: ${stderr}`)));
  });
}

for (const engine of selectedEngines().filter((e) => e !== 'sqlite')) {
  describe.skipIf(!reachable.includes(engine))(`tenantctl as a library on ${engine}`, () => {
    // A naming template of its own: the connection count below looks at this test's users only.
    const prefix = `lib${randomBytes(3).toString('hex')}`;
    const names = (slug: string) => `${prefix}_${slug}`;
    const created: string[] = [];
    let ws: Workspace;
    const registryUrl = () => `sqlite:${join(ws.dir, '.tenantctl', 'registry.sqlite')}`;
    const keyFile = () => join(ws.dir, '.tenantctl', 'secret.key');
    beforeAll(() => {
      ws = new Workspace(engine, {
        env: {
          TENANTCTL_DATABASE_NAME_TEMPLATE: `${prefix}_{slug}`,
          TENANTCTL_USER_NAME_TEMPLATE: `${prefix}_{slug}`,
          TENANTCTL_INDEXED_METADATA: 'domain',
        },
      });
    });
    afterAll(async () => {
      // Some 35 databases to drop: a few at a time, with time for a loaded server.
      for (let i = 0; i < created.length; i += 4) {
        await Promise.all(
          created.slice(i, i + 4).map((slug) => ws.probe.drop(names(slug), names(slug)).catch(() => undefined)),
        );
      }
      await ws.cleanup();
    }, 300_000);
    const create = async (domain?: string) => {
      const slug = ws.slug();
      created.push(slug);
      const result = await ws.run(['create', slug, '--no-seed', ...(domain ? ['--set', `domain=${domain}`] : [])]);
      expect(result.code, result.stderr).toBe(0);
      return slug;
    };

    it('refuses a second tenant with an indexed value (exit 4), on create and on update', async () => {
      const first = await create(`${prefix}-a.test`);
      const taken = await ws.run(['create', ws.slug(), '--set', `domain=${prefix}-a.test`]);
      expect(taken.code).toBe(4);
      expect(taken.stderr).toContain(first);
      const second = await create(`${prefix}-b.test`);
      expect((await ws.run(['update', second, '--set', `domain=${prefix}-a.test`])).code).toBe(4);
      expect((await ws.json(['show', second])).data.metadata.domain).toBe(`${prefix}-b.test`);
    });

    it('serves tenants by Host header, 404 for an unknown host, and 403 within the cache lifetime of a suspend', async () => {
      const acme = await create(`acme-${prefix}.test`);
      const globex = await create(`globex-${prefix}.test`);
      const admin = ws.probe.admin(names(acme));
      try {
        await admin('users').insert({ email: 'wile@acme.test', name: 'Wile' });
      } finally {
        await admin.destroy();
      }
      const app = await startExample({
        TENANTCTL_REGISTRY_URL: registryUrl(),
        TENANTCTL_SECRET_KEY_FILE: keyFile(),
        CACHE_TTL_MS: String(CACHE_TTL_MS),
        MAX_CONNECTIONS: '4',
      });
      try {
        const ok = await get(app.port, `acme-${prefix}.test:80`);
        expect(ok).toMatchObject({ status: 200, body: { tenant: acme, users: [{ email: 'wile@acme.test' }] } });
        expect((await get(app.port, `globex-${prefix}.test`)).body).toMatchObject({ tenant: globex, users: [] });
        expect((await get(app.port, `nobody-${prefix}.test`)).status).toBe(404);

        const suspend = await ws.run(['suspend', acme, '--reason', 'unpaid']);
        expect(suspend.code, suspend.stderr).toBe(0);
        const suspendedAt = Date.now();
        let status = 200;
        while (status === 200 && Date.now() - suspendedAt < CACHE_TTL_MS + 2000) {
          status = (await get(app.port, `acme-${prefix}.test`)).status;
          if (status === 200) await new Promise((r) => setTimeout(r, 50));
        }
        expect(status).toBe(403);
        // Refused within the cache lifetime (plus a margin for a loaded two-core machine).
        expect(Date.now() - suspendedAt).toBeLessThan(CACHE_TTL_MS + 1500);
        expect((await get(app.port, `globex-${prefix}.test`)).status).toBe(200);

        expect((await ws.run(['reactivate', acme])).code).toBe(0);
        await new Promise((r) => setTimeout(r, CACHE_TTL_MS + 100));
        expect((await get(app.port, `acme-${prefix}.test`)).status).toBe(200);
      } finally {
        app.child.kill('SIGTERM');
      }
    });

    it("connects as the tenant's own user and picks up a changed password without a restart", async () => {
      const slug = await create();
      const fleet = await openFleet({
        registryUrl: registryUrl(),
        secretKeyFile: keyFile(),
        cacheTtlMs: 200,
        readOnly: true,
      });
      try {
        const db = await fleet.knex(slug);
        const who =
          engine === 'postgres' ? 'select current_user as u' : "select substring_index(current_user(), '@', 1) as u";
        const rows = await db.raw(who);
        expect((engine === 'postgres' ? rows.rows : rows[0])[0].u).toBe(names(slug));

        // Rotate the password on the server and in the registry, as an operator's tool would.
        const password = randomBytes(16).toString('hex');
        const server = ws.probe.admin(engine === 'postgres' ? 'postgres' : names(slug));
        try {
          if (engine === 'postgres') await server.raw(`alter role "${names(slug)}" password '${password}'`);
          else await server.raw(`alter user ?@'%' identified by '${password}'`, [names(slug)]);
        } finally {
          await server.destroy();
        }
        const key = parseSecretKey(readFileSync(keyFile(), 'utf8'));
        const registry = sqliteKnex(registryUrl().slice('sqlite:'.length));
        try {
          await registry('tenantctl_tenants')
            .where({ slug })
            .update({ password_enc: encryptSecret(password, key) });
        } finally {
          await registry.destroy();
        }

        await new Promise((r) => setTimeout(r, 300));
        const fresh = await fleet.knex(slug);
        expect(fresh).not.toBe(db);
        await expect(fresh.raw('select 1 as one')).resolves.toBeDefined();
        // A new connection really logs in with the new password: the old pool is gone.
        await expect(db.raw('select 1')).rejects.toThrow();
        await expect(fleet.knex('nobody')).rejects.toBeInstanceOf(TenantNotFoundError);
      } finally {
        await fleet.close();
      }
    });

    it('keeps 30 tenants within a budget of 5 connections, as the server counts them', async () => {
      const ctx = createContext(
        {
          registryUrl: registryUrl(),
          serverUrl: ws.env.TENANTCTL_SERVER_URL,
          databaseNameTemplate: `${prefix}_{slug}`,
          userNameTemplate: `${prefix}_{slug}`,
          migrationsDir: join(ws.dir, 'migrations'),
          secretKeyFile: keyFile(),
        },
        { cwd: ws.dir },
      );
      const slugs = Array.from({ length: 30 }, () => ws.slug('b'));
      created.push(...slugs);
      try {
        for (let i = 0; i < slugs.length; i += 5)
          await Promise.all(slugs.slice(i, i + 5).map((slug) => createTenant(ctx, { slug, seed: false })));
      } finally {
        await ctx.close();
      }
      const admin = ws.probe.admin(engine === 'postgres' ? 'postgres' : 'information_schema');
      const count = async () => {
        const result =
          engine === 'postgres'
            ? await admin.raw('select count(*)::int as n from pg_stat_activity where left(usename, ?) = ?', [
                prefix.length,
                prefix,
              ])
            : await admin.raw('select count(*) as n from information_schema.processlist where left(user, ?) = ?', [
                prefix.length,
                prefix,
              ]);
        return Number((engine === 'postgres' ? result.rows : result[0])[0].n);
      };
      let fleet: Fleet | undefined;
      let peak = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, await count());
          await new Promise((r) => setTimeout(r, 10));
        }
      })();
      try {
        fleet = await openFleet({
          registryUrl: registryUrl(),
          secretKeyFile: keyFile(),
          maxConnections: 5,
          connectionsPerTenant: 2,
          idleTimeoutMs: 60_000,
          readOnly: true,
        });
        let peakInProcess = 0;
        let queries = 0;
        const order = [...slugs, ...slugs, ...slugs];
        await Promise.all(
          Array.from({ length: 8 }, async (_, lane) => {
            for (let i = lane; i < order.length; i += 8) {
              const db = await fleet!.knex(order[i]!);
              await db.raw(engine === 'postgres' ? 'select pg_sleep(0.02)' : 'select sleep(0.02)');
              queries++;
              peakInProcess = Math.max(peakInProcess, fleet!.stats().connections);
            }
          }),
        );
        expect(queries).toBe(90);
        expect(peakInProcess).toBeLessThanOrEqual(5);
      } finally {
        sampling = false;
        await sampler;
        await fleet?.close();
      }
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThanOrEqual(5);
      // Closing the fleet leaves nothing open on the server.
      await expect.poll(count, { timeout: 5000 }).toBe(0);
      await admin.destroy();
    });

    it('refuses a suspended tenant with TenantSuspendedError and closes its pool', async () => {
      const slug = await create();
      const fleet = await openFleet({
        registryUrl: registryUrl(),
        secretKeyFile: keyFile(),
        cacheTtlMs: 100,
        readOnly: true,
      });
      try {
        await (await fleet.knex(slug)).raw('select 1');
        expect(fleet.stats().pools).toBe(1);
        expect((await ws.run(['suspend', slug])).code).toBe(0);
        await new Promise((r) => setTimeout(r, 150));
        await expect(fleet.knex(slug)).rejects.toBeInstanceOf(TenantSuspendedError);
        expect(fleet.stats().pools).toBe(0);
      } finally {
        await fleet.close();
      }
    });
  });
}
