// migrate-all against the alternatives, on one fleet: each measurement applies one new migration
// to every tenant, so each does the same work.
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, REPO } from '../lib/fleet.mjs';
import { pool, runMeasured, timeIt } from '../lib/measure.mjs';

/** A realistic small migration: a table with an index. Each call adds a new one. */
function addMigration(fleet) {
  // After the fleet's last one: a fleet kept from an earlier run (--fleet-dir) has some already.
  const counter =
    Math.max(
      0,
      ...readdirSync(join(fleet.dir, 'migrations')).map((f) => Number(/_bench_(\d+)\.js$/.exec(f)?.[1] ?? 0)),
    ) + 1;
  const name = `2099010100${String(counter).padStart(4, '0')}_bench_${counter}.js`;
  writeFileSync(
    join(fleet.dir, 'migrations', name),
    `exports.up = (knex) => knex.schema.createTable('bench_${counter}', (t) => { t.increments('id'); t.string('label', 64).index(); });\n` +
      `exports.down = (knex) => knex.schema.dropTable('bench_${counter}');\n`,
  );
  return name;
}

async function migrateAll(fleet, concurrency) {
  const run = await runMeasured(
    process.execPath,
    [BIN, 'migrate-all', '--concurrency', String(concurrency), '--json'],
    { cwd: fleet.dir, env: fleet.env },
  );
  if (run.code !== 0) throw new Error(`migrate-all exited ${run.code}: ${run.stderr}`);
  const result = JSON.parse(run.stdout);
  return { ...run, result };
}

export async function benchMigrate(fleet, { naiveSample, concurrency }) {
  const n = fleet.count;
  const rows = [];
  const record = (label, ms, tenants, extra = {}) =>
    rows.push({ label, ms, tenants, perTenantMs: ms / tenants, ...extra });

  // 1. The naive baseline: one `knex migrate:latest` process per tenant, one after another.
  addMigration(fleet);
  // Not named knexfile.*: tenantctl, run in the same directory, would take it for the project's.
  writeFileSync(
    join(fleet.dir, 'naive-knexfile.cjs'),
    "module.exports = { client: process.env.BENCH_CLIENT, connection: JSON.parse(process.env.BENCH_CONNECTION), migrations: { directory: './migrations' } };\n",
  );
  const sample = fleet.slugs.slice(0, Math.min(naiveSample ?? n, n));
  const knexBin = join(REPO, 'node_modules', 'knex', 'bin', 'cli.js');
  const naive = await timeIt(async () => {
    for (const slug of sample) {
      const run = await runMeasured(process.execPath, [knexBin, 'migrate:latest', '--knexfile', 'naive-knexfile.cjs'], {
        cwd: fleet.dir,
        env: {
          BENCH_CLIENT: fleet.client,
          BENCH_CONNECTION: JSON.stringify(fleet.adminConnection(fleet.database(slug))),
        },
      });
      if (run.code !== 0) throw new Error(`knex migrate:latest failed: ${run.stderr}`);
    }
  });
  const naiveMs = (naive.ms / sample.length) * n;
  record(
    `naive loop: knex migrate:latest per tenant${sample.length < n ? ` (extrapolated from ${sample.length})` : ''}`,
    naiveMs,
    n,
  );
  if (sample.length < n) await migrateAll(fleet, concurrency); // bring the rest level, untimed

  // 2. The floor: a bare in-process knex loop at the same concurrency.
  addMigration(fleet);
  const bare = await timeIt(() =>
    pool(fleet.slugs, concurrency, async (slug) => {
      const knex = fleet.adminKnex(fleet.database(slug));
      try {
        await knex.migrate.latest({ directory: join(fleet.dir, 'migrations') });
      } finally {
        await knex.destroy();
      }
    }),
  );
  record(`bare knex loop in process, concurrency ${concurrency}`, bare.ms, n);

  // 3. tenantctl migrate-all at several concurrencies.
  const byConcurrency = {};
  for (const c of [1, 4, 8]) {
    addMigration(fleet);
    const run = await migrateAll(fleet, c);
    if (run.result.counts.migrated !== n)
      throw new Error(`migrate-all --concurrency ${c} migrated ${run.result.counts.migrated} of ${n}`);
    byConcurrency[c] = run.ms;
    record(`tenantctl migrate-all --concurrency ${c}`, run.ms, n, { peakMb: run.peakMb });
  }

  // 4. The everyday cron case: nothing pending.
  const idle = await migrateAll(fleet, concurrency);
  if (idle.result.counts.up_to_date !== n) throw new Error('nothing-pending run migrated something');
  record('tenantctl migrate-all, nothing pending', idle.ms, n, { peakMb: idle.peakMb });

  const best = byConcurrency[concurrency] ?? Math.min(...Object.values(byConcurrency));
  return {
    rows,
    ratios: {
      speedupOverNaive: naiveMs / best,
      versusBareKnex: best / bare.ms,
      nothingPendingMs: idle.ms,
    },
  };
}
