#!/usr/bin/env node
// npm run bench [-- --tenants 1000 --engines postgres,mysql --naive-sample 100 --only migrate,rollouts,query]
//                 [-- --only create --tenants 200]  (the create loop's length)
//                 [-- --servers 2 --only servers]
//                 [-- --only setup --keep --tenants 10000 --engines mysql]  (a fleet made once…)
//                 [-- --fleet-dir /tmp/tenantctl-bench-mysql-… --tenants 10000 --engines mysql --only migrate,stats]
// Creates a fleet per engine, measures, prints a table and writes bench/results/<time>.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BenchFleet, REPO } from './lib/fleet.mjs';
import { fmtMs, timeIt } from './lib/measure.mjs';
import { benchBackup, describeBackup } from './sections/backup.mjs';
import { benchCreate } from './sections/create.mjs';
import { benchFleetApi } from './sections/fleet-api.mjs';
import { benchMigrate } from './sections/migrate.mjs';
import { benchStartup } from './sections/startup.mjs';
import { benchMove } from './sections/move.mjs';
import { benchRollouts } from './sections/rollouts.mjs';
import { benchStats } from './sections/stats.mjs';
import { benchQuery } from './sections/query.mjs';
import { benchServers, describeServers } from './sections/servers.mjs';

const { values } = parseArgs({
  options: {
    tenants: { type: 'string', default: '200' },
    engines: { type: 'string', default: 'postgres,mysql' },
    'naive-sample': { type: 'string' },
    concurrency: { type: 'string', default: '8' },
    only: { type: 'string', default: 'startup,migrate,rollouts,stats,backup,fleet,move' },
    budget: { type: 'string', default: '50' },
    'large-gb': { type: 'string', default: '1' },
    'move-gb': { type: 'string', default: '1' },
    // --keep leaves the fleet (databases and its directory) for a later run's --fleet-dir.
    keep: { type: 'boolean', default: false },
    'fleet-dir': { type: 'string' },
    servers: { type: 'string', default: '1' },
    // Database names are <prefix>_t00000…: a prefix of your own keeps two benches on one server apart.
    prefix: { type: 'string', default: 'bench' },
  },
});

// An engine the bench does not know would reach tenantctl as an invalid URL halfway through.
for (const engine of values.engines.split(','))
  if (!['postgres', 'mysql'].includes(engine)) {
    console.error(`--engines: "${engine}" is not postgres or mysql`);
    process.exit(2);
  }

const tenants = Number(values.tenants);
const concurrency = Number(values.concurrency);
const sections = new Set(values.only.split(','));
const results = {
  startedAt: new Date().toISOString(),
  tenants,
  concurrency,
  machine: { cpus: (await import('node:os')).cpus().length, node: process.version },
  engines: {},
};

if (sections.has('startup')) {
  console.error('\n[startup] timing --help, --version and list against bare node…');
  results.startup = await benchStartup();
  console.log('\nstart-up (15 runs each; best wall time is compared with the goal)');
  for (const r of results.startup.rows) {
    console.log(
      `  ${r.label.padEnd(52)}  best ${fmtMs(r.bestMs).padStart(7)}  median ${fmtMs(r.medianMs).padStart(7)}  cpu ${r.cpuMs === null ? '?' : fmtMs(r.cpuMs)}`,
    );
  }
  console.log(
    `  goals ${results.startup.ratios.goalsMet ? 'met' : 'MISSED'}: --help/--version within 100 ms of bare node, list within 200 ms`,
  );
}
if (sections.has('create')) {
  results.create = {};
  for (const engine of values.engines.split(',')) {
    console.error(`\n[${engine}] create, replayed and from the schema template…`);
    const created = await benchCreate(engine, { loop: tenants, prefix: values.prefix });
    results.create[engine] = created;
    printTable(`${engine}: create (2, 30 and 300 migrations; one tenant is the median of 3)`, created.rows);
    for (const d of created.details.filter((x) => x.templateBuildMs !== undefined))
      console.log(`  ${d.migrations} migrations: template built in ${fmtMs(d.templateBuildMs ?? 0)}`);
    for (const d of created.details.filter((x) => x.loop))
      console.log(`  loop of ${d.loop}, ${d.way}: ${d.perSecond.toFixed(1)} tenants per second`);
  }
}
// `setup` alone: the fleet is made (and with --keep kept), nothing measured on it.
const fleetSections = ['setup', 'migrate', 'rollouts', 'stats', 'query', 'backup', 'fleet', 'move'].filter((s) =>
  sections.has(s),
);
const spreadOverServers = Number(values.servers) > 1;

for (const engine of fleetSections.length || spreadOverServers ? values.engines.split(',') : []) {
  // --servers 2: migrate-all over the same tenants on one server and spread over two.
  if (spreadOverServers) {
    const servers = await benchServers(engine, tenants, { concurrency });
    printTable(`${engine}: migrate-all over ${tenants} tenants, one server vs two`, servers.rows);
    console.log(describeServers(servers));
    results.engines[`${engine}-servers`] = servers;
  }
  if (!fleetSections.length) continue;
  const fleet = new BenchFleet(engine, tenants, { prefix: values.prefix, dir: values['fleet-dir'] });
  const engineResults = {};
  if (!fleet.created) {
    console.error(`\n[${engine}] creating ${tenants} tenants…`);
    const setup = await timeIt(() => fleet.create(concurrency));
    console.error(`[${engine}] created in ${fmtMs(setup.ms)} (${fmtMs(setup.ms / tenants)} a tenant)`);
    engineResults.setupMs = setup.ms;
  }
  try {
    if (sections.has('migrate')) {
      console.error(`[${engine}] migrations…`);
      engineResults.migrate = await benchMigrate(fleet, {
        naiveSample: values['naive-sample'] ? Number(values['naive-sample']) : undefined,
        concurrency,
      });
      printTable(`${engine}: migrating ${tenants} tenants`, engineResults.migrate.rows);
      const r = engineResults.migrate.ratios;
      console.log(
        `  migrate-all (concurrency ${concurrency}) is ${r.speedupOverNaive.toFixed(1)}× faster than the naive loop, ${r.versusBareKnex.toFixed(2)}× the bare knex loop; nothing pending: ${fmtMs(r.nothingPendingMs)}`,
      );
    }
    if (sections.has('rollouts')) {
      console.error(`[${engine}] staged rollouts…`);
      engineResults.rollouts = await benchRollouts(fleet, { concurrency });
      printTable(`${engine}: migrate-all with and without waves over ${tenants} tenants`, engineResults.rollouts.rows);
      const r = engineResults.rollouts.ratios;
      console.log(
        `  ${r.waves} waves cost ${r.wavesOverPlain.toFixed(2)}× the unstaged run; with pauses, ${r.pausedMinusPausesOverPlain.toFixed(2)}× beyond the pauses themselves`,
      );
    }
    if (sections.has('stats')) {
      console.error(`[${engine}] stats…`);
      engineResults.stats = await benchStats(fleet, { concurrency });
      printTable(`${engine}: stats over ${tenants} tenants`, engineResults.stats.rows);
      const r = engineResults.stats.ratios;
      console.log(
        `  stats (default) took ${fmtMs(r.statsMs)}, ${r.speedupOverPerTenant.toFixed(1)}× faster than the per-tenant-connection script; with --tables ${fmtMs(r.statsTablesMs)} (${r.tablesSpeedupOverPerTenant.toFixed(1)}×)`,
      );
    }
    if (sections.has('query')) {
      console.error(`[${engine}] query…`);
      engineResults.query = await benchQuery(fleet, { concurrency });
      printTable(`${engine}: query over ${tenants} tenants`, engineResults.query.rows);
      const r = engineResults.query.ratios;
      console.log(
        `  query is ${r.versusBareKnex.toFixed(2)}× the bare knex loop, ${r.versusBareTenantLoop.toFixed(2)}× the same loop with each tenant's login (${r.versusBareKnexBeyondFixed.toFixed(2)}× beyond its fixed ${r.fixedMs.toFixed(0)} ms) and ${r.speedupOverShellLoop.toFixed(1)}× faster than the shell loop; peak RSS ${r.peakMbCount?.toFixed(0) ?? '?'} MB, ${r.peakMbHundredRows?.toFixed(0) ?? '?'} MB with 100 rows per tenant`,
      );
      console.log(
        `  schema diff: ${(r.schemaDiffUncachedMs / 1000).toFixed(2)} s reading every structure, ${(r.schemaDiffCachedMs / 1000).toFixed(2)} s with the cache (${(r.schemaDiffUncachedMs / r.schemaDiffCachedMs).toFixed(1)}×)`,
      );
    }
    if (sections.has('backup')) {
      console.error(`[${engine}] backups…`);
      engineResults.backup = await benchBackup(fleet, {
        concurrency: Math.min(concurrency, 4),
        largeGb: Number(values['large-gb']),
      });
      printTable(`${engine}: backing up ${tenants} tenants`, engineResults.backup.rows);
      console.log(describeBackup(engineResults.backup.ratios));
    }
    if (sections.has('fleet')) {
      console.error(`[${engine}] library (fleet.knex)…`);
      engineResults.fleet = await benchFleetApi(fleet, { budget: Number(values.budget) });
      printTable(`${engine}: fleet.knex over ${tenants} tenants`, engineResults.fleet.rows);
      const r = engineResults.fleet.ratios;
      console.log(
        `  fleet.knex: cold ${r.coldMs.toFixed(2)} ms, warm ${r.warmMs.toFixed(3)} ms per call with a query (${r.lookupMs.toFixed(3)} ms alone); at most ${r.peakConnections} server connections seen with a budget of ${r.budget}`,
      );
    }
    if (sections.has('move')) {
      console.error(`[${engine}] move…`);
      engineResults.move = await benchMove(fleet, {
        gigabytes: Number(values['move-gb']),
        large: engineResults.backup?.large,
      });
      printTable(`${engine}: moving one tenant between two servers`, engineResults.move.rows);
      console.log(
        `  downtime ${fmtMs(engineResults.move.ratios.downtimeMs)}; peak memory ${engineResults.move.ratios.peakMb.toFixed(0)} MB`,
      );
    }
  } finally {
    if (!values.keep) await fleet.destroy();
    else console.error(`[${engine}] kept: --fleet-dir ${fleet.dir}`);
  }
  results.engines[engine] = engineResults;
}

mkdirSync(join(REPO, 'bench', 'results'), { recursive: true });
const file = join(REPO, 'bench', 'results', `${results.startedAt.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
console.log(`\nresults: ${file}`);

function printTable(title, rows) {
  console.log(`\n${title}`);
  const width = Math.max(...rows.map((r) => r.label.length));
  console.log(
    `  ${'measurement'.padEnd(width)}  ${'total'.padStart(10)}  ${'per tenant'.padStart(10)}  ${'peak RSS'.padStart(9)}`,
  );
  for (const r of rows) {
    const peak = r.peakMb ? `${r.peakMb.toFixed(0)} MB` : '';
    console.log(
      `  ${r.label.padEnd(width)}  ${fmtMs(r.ms).padStart(10)}  ${fmtMs(r.perTenantMs).padStart(10)}  ${peak.padStart(9)}`,
    );
  }
}
