// Staged rollouts: migrate-all with and without --waves over the same fleet. Each run applies one
// new migration to every tenant, so both do the same work; the waves' pauses are subtracted.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../lib/fleet.mjs';
import { runMeasured } from '../lib/measure.mjs';

let counter = 0;

function addMigration(fleet) {
  counter++;
  writeFileSync(
    join(fleet.dir, 'migrations', `2099020100${String(counter).padStart(4, '0')}_rollout_${counter}.js`),
    `exports.up = (knex) => knex.schema.createTable('rollout_${counter}', (t) => { t.increments('id'); t.string('label', 64).index(); });\n` +
      `exports.down = (knex) => knex.schema.dropTable('rollout_${counter}');\n`,
  );
}

async function migrateAll(fleet, args) {
  addMigration(fleet);
  const run = await runMeasured(process.execPath, [BIN, 'migrate-all', ...args, '--json'], {
    cwd: fleet.dir,
    env: fleet.env,
  });
  if (run.code !== 0) throw new Error(`migrate-all ${args.join(' ')} exited ${run.code}: ${run.stderr}`);
  const result = JSON.parse(run.stdout);
  if (result.counts.migrated !== fleet.count)
    throw new Error(`migrate-all ${args.join(' ')} migrated ${result.counts.migrated} of ${fleet.count}`);
  return { ...run, result };
}

export async function benchRollouts(fleet, { concurrency, pauseMs = 1000 }) {
  const n = fleet.count;
  const c = ['--concurrency', String(concurrency)];
  const waves = ['--canary', '1', '--waves', '10%,50%,100%', '--max-failures', '5%'];
  const plain = await migrateAll(fleet, c);
  const staged = await migrateAll(fleet, [...c, ...waves]);
  const paused = await migrateAll(fleet, [...c, ...waves, '--pause', `${pauseMs}ms`]);
  const pauses = (paused.result.waves.length - 1) * pauseMs;
  const rows = [
    {
      label: `migrate-all --concurrency ${concurrency}`,
      ms: plain.ms,
      tenants: n,
      perTenantMs: plain.ms / n,
      peakMb: plain.peakMb,
    },
    { label: `  + ${waves.join(' ')}`, ms: staged.ms, tenants: n, perTenantMs: staged.ms / n, peakMb: staged.peakMb },
    {
      label: `  + --pause ${pauseMs}ms (${paused.result.waves.length - 1} pauses subtracted)`,
      ms: paused.ms - pauses,
      tenants: n,
      perTenantMs: (paused.ms - pauses) / n,
      peakMb: paused.peakMb,
    },
  ];
  return {
    rows,
    ratios: {
      wavesOverPlain: staged.ms / plain.ms,
      pausedMinusPausesOverPlain: (paused.ms - pauses) / plain.ms,
      waves: staged.result.waves.length,
    },
  };
}
