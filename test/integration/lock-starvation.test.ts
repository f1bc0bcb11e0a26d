import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTenant, withTenantctl } from '../../src/index.js';
import { runPool } from '../../src/core/run-pool.js';
import { SERVER_URLS } from '../helpers/engines.js';
import { registryDatabase } from '../helpers/registry-database.js';
import { canQuery } from '../helpers/server-probe.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');

/** Wall times go to the log for the record (never asserted: speed belongs in the benchmark). */
const report = (what: string, ms: number) => process.stderr.write(`[lock-starvation] ${what}: ${ms} ms\n`);

// Secret writes, tenant locks and placement are session locks in a shared registry: each holds a
// connection of its own. Many operations at once must each get their locks and their queries.
for (const engine of ['postgres', 'mysql'] as const) {
  describe.skipIf(!reachable.includes(engine))(`many secret writes at once on a ${engine} registry`, () => {
    const registry = registryDatabase(engine);
    const key = randomBytes(32).toString('hex');
    let ws: Workspace;
    const config = (plan: string) => ({
      registryUrl: registry.url,
      secretKey: key,
      serverUrl: SERVER_URLS[engine],
      home: join(ws.dir, '.tenantctl'),
      migrationsDir: join(ws.dir, 'migrations'),
      seedsDir: join(ws.dir, 'seeds'),
      plan,
    });
    beforeAll(async () => {
      await registry.create();
      ws = new Workspace(engine, { env: { TENANTCTL_REGISTRY_URL: registry.url, TENANTCTL_SECRET_KEY: key } });
    });
    afterAll(async () => {
      await ws.cleanup();
      await registry.drop();
    }, 300_000);

    it('8 concurrent createTenant calls in one process all succeed', { timeout: 300_000 }, async () => {
      const slugs = Array.from({ length: 8 }, () => ws.slug('cc'));
      const { plan: _, ...base } = config('');
      const started = Date.now();
      const results = await withTenantctl(base, (ctx) =>
        Promise.allSettled(slugs.map((slug) => createTenant(ctx, { slug, plan: 'concurrent', seed: false }))),
      );
      report(`${engine}: 8 concurrent createTenant`, Date.now() - started);
      expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual(slugs.map(() => 'ok'));
      const listed = await ws.json(['list', '--plan', 'concurrent']);
      expect(listed.data.map((t: { status: string }) => t.status)).toEqual(slugs.map(() => 'active'));
    });

    it('rotate-password --all over 56 tenants at concurrency 8 rotates every one', { timeout: 900_000 }, async () => {
      const slugs = Array.from({ length: 56 }, () => ws.slug('rp'));
      const { plan: _, ...base } = config('');
      await withTenantctl(base, (ctx) =>
        runPool(slugs, 2, async (slug) => {
          await createTenant(ctx, { slug, plan: 'rotated', seed: false });
        }),
      );
      const before = await ws.json(['show', slugs[0]!, '--show-password']);
      const started = Date.now();
      const rotated = await ws.json(['rotate-password', '--all', '--plan', 'rotated', '--concurrency', '8']);
      report(`${engine}: rotate-password --all, 56 tenants, concurrency 8`, Date.now() - started);
      expect(rotated.result.code, rotated.result.stdout + rotated.result.stderr).toBe(0);
      expect(rotated.data.counts).toEqual({ rotated: 56, skipped: 0, failed: 0, busy: 0 });
      // The new passwords are the ones the servers take.
      for (const slug of [slugs[0]!, slugs[55]!]) {
        const shown = await ws.json(['show', slug, '--show-password']);
        const { database, user } = ws.names(slug);
        expect(await canQuery(ws.probe.connectAs(database, user, shown.data.password))).toBe(true);
      }
      const after = await ws.json(['show', slugs[0]!, '--show-password']);
      expect(after.data.password).not.toBe(before.data.password);
    });
  });
}
