import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runPool } from '../../src/core/run-pool.js';
import { ConnectionBudgetError, createContext, createTenant, openFleet, type Fleet } from '../../src/index.js';
import { selectedEngines } from '../helpers/engines.js';
import { Workspace } from '../helpers/workspace.js';

const reachable = inject('reachableEngines');
const TENANTS = 50;
const REQUESTS = 200;

/** Which request each query is, from the SQL it sends (`select <i> as request, …`). */
const requestOf = (sql: string) => Number(/select (\d+) as request/.exec(sql)?.[1]);

// An application under load: 200 requests at once over 50 tenants, a budget of 5 connections.
for (const engine of selectedEngines().filter((e) => e !== 'sqlite')) {
  describe.skipIf(!reachable.includes(engine))(`the library under load on ${engine}`, () => {
    let ws: Workspace;
    const slugs: string[] = [];
    const registryUrl = () => `sqlite:${join(ws.dir, '.tenantctl', 'registry.sqlite')}`;
    const keyFile = () => join(ws.dir, '.tenantctl', 'secret.key');
    const sleep = (seconds: number) => (engine === 'postgres' ? `pg_sleep(${seconds})` : `sleep(${seconds})`);
    const open = (options: { acquireTimeoutMs: number; idleTimeoutMs?: number }) =>
      openFleet({
        registryUrl: registryUrl(),
        secretKeyFile: keyFile(),
        maxConnections: 5,
        connectionsPerTenant: 2,
        cacheTtlMs: 600_000,
        idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
        acquireTimeoutMs: options.acquireTimeoutMs,
        readOnly: true,
      });
    /** Every tenant's pool made and its record cached, so that requests reach the budget in the order sent. */
    const warm = async (fleet: Fleet) => {
      const pools = new Map<string, Knex>();
      for (const slug of slugs) pools.set(slug, await fleet.knex(slug));
      return pools;
    };

    beforeAll(async () => {
      ws = new Workspace(engine);
      const migrationsDir = join(ws.dir, 'no-migrations');
      mkdirSync(migrationsDir);
      const ctx = createContext(
        { serverUrl: ws.env.TENANTCTL_SERVER_URL, migrationsDir, home: join(ws.dir, '.tenantctl') },
        { cwd: ws.dir },
      );
      try {
        slugs.push(...Array.from({ length: TENANTS }, () => ws.slug('ld')));
        await runPool(slugs, 2, async (slug) => {
          await createTenant(ctx, { slug, seed: false });
        });
      } finally {
        await ctx.close();
      }
    }, 600_000);
    afterAll(async () => {
      await ws.cleanup();
    }, 300_000);

    it(
      'serves 200 concurrent requests first come, first served within a budget of 5',
      { timeout: 120_000 },
      async () => {
        const fleet = await open({ acquireTimeoutMs: 60_000 });
        try {
          const pools = await warm(fleet);
          const served: number[] = [];
          for (const knex of pools.values())
            knex.on('query', (query: { sql: string }) => served.push(requestOf(query.sql)));
          let peak = 0;
          const results = await Promise.allSettled(
            Array.from({ length: REQUESTS }, async (_, i) => {
              const db = await fleet.knex(slugs[i % TENANTS]!);
              await db.raw(`select ${i} as request, ${sleep(0.01)}`);
              peak = Math.max(peak, fleet.stats().connections);
            }),
          );
          expect(results.filter((r) => r.status === 'rejected').map((r) => String(r.reason))).toEqual([]);
          expect(served).toHaveLength(REQUESTS);
          // First come, first served: requests get their turn in the order they came. The
          // connection a turn opens may take longer than the next one's (each tenant here needs a
          // new one), so a request may see a few later ones start first, never the dozens a busy
          // tenant's next queries overtook before (a tenant kept its connections while it had
          // queries: 137 of 199 in one run).
          const overtaken = served.map(
            (request, position) => served.slice(0, position).filter((r) => r > request).length,
          );
          expect(Math.max(...overtaken)).toBeLessThanOrEqual(20);
          expect(peak).toBeLessThanOrEqual(5);
          expect(fleet.stats()).toMatchObject({ waiting: 0, active: 0 });
        } finally {
          await fleet.close();
        }
      },
    );

    it(
      'fails a request that waits past acquireTimeoutMs with ConnectionBudgetError, and the counters return to zero',
      { timeout: 120_000 },
      async () => {
        const fleet = await open({ acquireTimeoutMs: 1000, idleTimeoutMs: 300 });
        try {
          await warm(fleet);
          const results = await Promise.allSettled(
            Array.from({ length: REQUESTS }, async (_, i) => {
              const db = await fleet.knex(slugs[i % TENANTS]!);
              await db.raw(`select ${i} as request, ${sleep(0.5)}`);
            }),
          );
          const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
          // Five connections, half a second each, one second to wait: most requests cannot be served.
          expect(errors.length).toBeGreaterThan(REQUESTS / 2);
          expect(errors.length).toBeLessThan(REQUESTS);
          expect(errors.filter((e) => !(e instanceof ConnectionBudgetError)).map(String)).toEqual([]);
          expect(errors[0]!.message).toMatch(/within 1000 ms \(maxConnections 5/);
          expect(fleet.stats()).toMatchObject({ waiting: 0, active: 0 });
          // Idle connections close after idleTimeoutMs: nothing is left open.
          await expect.poll(() => fleet.stats().connections, { timeout: 10_000 }).toBe(0);
        } finally {
          await fleet.close();
        }
      },
    );
  });
}
