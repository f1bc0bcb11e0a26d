// The library: what `fleet.knex(slug)` costs on a cold tenant (registry read, password decrypt,
// new pool, first connection) and a warm one (cached record, pooled connection), and the
// connections the server sees when every tenant is touched under a small budget.
import { join } from 'node:path';
import knexFactory from 'knex';
import { REPO, SERVER_URLS } from '../lib/fleet.mjs';
import { pool, timeIt } from '../lib/measure.mjs';

const { openFleet } = await import(join(REPO, 'dist/index.js'));

/** Connections from the fleet's tenant users, as the server counts them. */
function connectionCounter(engine) {
  const url = new URL(SERVER_URLS[engine]);
  const admin = knexFactory({
    client: engine === 'postgres' ? 'pg' : 'mysql2',
    connection: {
      host: url.hostname,
      port: Number(url.port),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: url.pathname.slice(1) || undefined,
    },
    pool: { min: 0, max: 1 },
  });
  const count = async () => {
    const result =
      engine === 'postgres'
        ? await admin.raw("select count(*)::int as n from pg_stat_activity where usename like 'bench\\_%'")
        : await admin.raw("select count(*) as n from information_schema.processlist where user like 'bench\\_%'");
    return Number((engine === 'postgres' ? result.rows : result[0])[0].n);
  };
  return { count, close: () => admin.destroy() };
}

export async function benchFleetApi(fleet, { budget }) {
  const open = () =>
    openFleet({
      registryUrl: `sqlite:${join(fleet.dir, '.tenantctl', 'registry.sqlite')}`,
      cwd: fleet.dir,
      maxConnections: budget,
      cacheTtlMs: 60_000,
      readOnly: true,
    });
  const rows = [];
  const app = await open();
  try {
    // Cold: every tenant once, one after another (registry read, decrypt, pool, connect, query).
    const cold = await timeIt(async () => {
      for (const slug of fleet.slugs) await (await app.knex(slug)).raw('select 1');
    });
    rows.push({
      label: `fleet.knex(slug) + select 1, cold tenant (budget ${budget})`,
      ms: cold.ms,
      tenants: fleet.count,
      perTenantMs: cold.ms / fleet.count,
    });
    // Warm: the same tenant again and again (cached record, pooled connection).
    const warmSlug = fleet.slugs[fleet.slugs.length - 1];
    const calls = 2000;
    const warm = await timeIt(async () => {
      for (let i = 0; i < calls; i++) await (await app.knex(warmSlug)).raw('select 1');
    });
    rows.push({
      label: `fleet.knex(slug) + select 1, warm tenant (${calls} calls)`,
      ms: warm.ms,
      tenants: calls,
      perTenantMs: warm.ms / calls,
    });
    const lookup = await timeIt(async () => {
      for (let i = 0; i < calls; i++) await app.knex(warmSlug);
    });
    rows.push({
      label: `fleet.knex(slug) alone, warm (${calls} calls)`,
      ms: lookup.ms,
      tenants: calls,
      perTenantMs: lookup.ms / calls,
    });
  } finally {
    await app.close();
  }

  // Every tenant touched by 16 concurrent workers, twice, under the budget; the server sampled.
  const counter = connectionCounter(fleet.engine);
  const busy = await open();
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await counter.count());
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    const order = [...fleet.slugs, ...fleet.slugs];
    const touched = await timeIt(() => pool(order, 16, async (slug) => (await busy.knex(slug)).raw('select 1')));
    rows.push({
      label: `every tenant twice, 16 workers, budget ${budget}`,
      ms: touched.ms,
      tenants: order.length,
      perTenantMs: touched.ms / order.length,
    });
  } finally {
    sampling = false;
    await sampler;
    await busy.close();
    await counter.close();
  }
  return {
    rows,
    ratios: {
      coldMs: rows[0].perTenantMs,
      warmMs: rows[1].perTenantMs,
      lookupMs: rows[2].perTenantMs,
      peakConnections: peak,
      budget,
    },
  };
}
