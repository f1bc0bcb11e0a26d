// `--only create` (issue 29): one tenant's create, replayed and from the schema template, with 2,
// 30 and 300 migrations (generated: a table with columns, an index and a foreign key each), and a
// loop of creates both ways. Whole process: the CLI's wall time; in process: the create's own
// `durationMs` (what a sign-up waiting on the library would wait, start-up excluded).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BenchFleet, BIN } from '../lib/fleet.mjs';
import { runMeasured } from '../lib/measure.mjs';

/** N migrations: each a table with a few columns, an index, and a foreign key to the one before. */
function writeMigrations(dir, count) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < count; i++) {
    const name = `t${String(i).padStart(3, '0')}`;
    const previous = i ? `t${String(i - 1).padStart(3, '0')}` : null;
    writeFileSync(
      join(dir, `2024${String(i).padStart(10, '0')}_${name}.cjs`),
      `exports.up = (knex) => knex.schema.createTable('${name}', (t) => {
  t.increments('id');
  t.string('label', 100).notNullable();
  t.integer('amount').defaultTo(0);
  t.timestamp('created_at').defaultTo(knex.fn.now());
  t.index(['label']);
  ${previous ? `t.integer('${previous}_id').unsigned().references('id').inTable('${previous}');` : ''}
});
exports.down = (knex) => knex.schema.dropTable('${name}');
`,
    );
  }
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export async function benchCreate(engine, { counts = [2, 30, 300], samples = 3, loop = 200, prefix = 'bench' } = {}) {
  const rows = [];
  const details = [];
  for (const count of counts) {
    const fleet = new BenchFleet(engine, 0, { prefix: `${prefix}c${count}` });
    writeMigrations(join(fleet.dir, 'migrations'), count);
    let n = 0;
    const cli = async (args) => {
      const run = await runMeasured(BIN, [...args, '--json'], { cwd: fleet.dir, env: fleet.env });
      if (run.code !== 0) throw new Error(`tenantctl ${args.join(' ')}: ${run.stderr}`);
      return { ms: run.ms, data: JSON.parse(run.stdout) };
    };
    const create = async (replay) => {
      const run = await cli(['create', `s${n++}`, '--no-seed', ...(replay ? ['--replay'] : [])]);
      return { wallMs: run.ms, inProcessMs: run.data.durationMs, templated: run.data.template !== null };
    };
    try {
      const measured = {};
      let buildMs = null;
      for (const replay of [true, false]) {
        // Built ahead, timed on its own: the server is registered by the first (replayed) create.
        if (!replay) buildMs = (await cli(['template', 'build'])).data[0]?.buildMs ?? null;
        const runs = [];
        for (let i = 0; i < samples; i++) runs.push(await create(replay));
        if (runs.some((r) => r.templated === replay)) throw new Error('create did not take the path asked for');
        measured[replay ? 'replayed' : 'templated'] = {
          wallMs: median(runs.map((r) => r.wallMs)),
          inProcessMs: median(runs.map((r) => r.inProcessMs)),
        };
      }
      details.push({ migrations: count, templateBuildMs: buildMs, ...measured });
      for (const way of ['replayed', 'templated'])
        rows.push({
          label: `${count} migrations, ${way}: whole process (in process ${measured[way].inProcessMs} ms)`,
          ms: measured[way].wallMs,
          perTenantMs: measured[way].wallMs,
        });
      if (count === counts[1] && loop > 0) {
        for (const replay of [true, false]) {
          const started = process.hrtime.bigint();
          for (let i = 0; i < loop; i++) await create(replay);
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          const way = replay ? 'replayed' : 'templated';
          details.push({ migrations: count, loop, way, ms, perSecond: loop / (ms / 1000) });
          rows.push({ label: `${loop} creates in a loop, ${count} migrations, ${way}`, ms, perTenantMs: ms / loop });
        }
      }
    } finally {
      await runMeasured(BIN, ['template', 'drop'], { cwd: fleet.dir, env: fleet.env });
      await fleet.destroy();
    }
  }
  return { rows, details };
}
