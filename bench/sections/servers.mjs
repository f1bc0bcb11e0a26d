// migrate-all over the same number of tenants on one server and spread over two (npm run bench --
// --servers 2): what the per-server queue costs, and what a second server buys.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchFleet, BIN } from '../lib/fleet.mjs';
import { fmtMs, runMeasured } from '../lib/measure.mjs';

let counter = 0;

async function migrateOnce(fleet, concurrency, extra = []) {
  counter++;
  writeFileSync(
    join(fleet.dir, 'migrations', `20990101${String(counter).padStart(6, '0')}_servers_bench.js`),
    `exports.up = (knex) => knex.schema.createTable('srv_bench_${counter}', (t) => { t.increments('id'); t.string('label', 64).index(); });\n` +
      `exports.down = (knex) => knex.schema.dropTable('srv_bench_${counter}');\n`,
  );
  const run = await runMeasured(
    process.execPath,
    [BIN, 'migrate-all', '--concurrency', String(concurrency), ...extra, '--json'],
    { cwd: fleet.dir, env: fleet.env },
  );
  if (run.code !== 0) throw new Error(`migrate-all exited ${run.code}: ${run.stderr}`);
  return run;
}

export async function benchServers(engine, tenants, { concurrency }) {
  const rows = [];
  const one = new BenchFleet(engine, tenants, { prefix: 'bench1s' });
  const two = new BenchFleet(engine, tenants, { servers: 2, prefix: 'bench2s' });
  try {
    console.error(`[${engine}] servers: creating ${tenants} tenants on one server and ${tenants} over two…`);
    await one.create(concurrency);
    await two.create(concurrency);
    const a = await migrateOnce(one, concurrency);
    rows.push({
      label: `one server, migrate-all --concurrency ${concurrency}`,
      ms: a.ms,
      perTenantMs: a.ms / tenants,
      peakMb: a.peakMb,
    });
    const b = await migrateOnce(two, concurrency);
    rows.push({
      label: `two servers, migrate-all --concurrency ${concurrency}`,
      ms: b.ms,
      perTenantMs: b.ms / tenants,
      peakMb: b.peakMb,
    });
    const perServer = Math.max(1, Math.floor(concurrency / 2));
    const c = await migrateOnce(two, concurrency, ['--per-server', String(perServer)]);
    rows.push({
      label: `two servers, --per-server ${perServer}`,
      ms: c.ms,
      perTenantMs: c.ms / tenants,
      peakMb: c.peakMb,
    });
    return { rows, ratios: { twoOverOne: b.ms / a.ms } };
  } finally {
    await one.destroy();
    await two.destroy();
  }
}

export const describeServers = (r) =>
  `  two servers took ${r.ratios.twoOverOne.toFixed(2)}× the time of one (both instances share this machine's cores: ${fmtMs(r.rows[0].ms)} vs ${fmtMs(r.rows[1].ms)})`;
