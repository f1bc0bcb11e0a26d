// tenantctl query over the fleet against the bare in-process knex loop and a shell loop of the
// engine's client, and its peak memory with 100 rows per tenant (flat: rows are written as each
// tenant answers, never held for the fleet).
import { join } from 'node:path';
import knexFactory from 'knex';
import { BIN, REPO } from '../lib/fleet.mjs';
import { pool, runMeasured, timeIt } from '../lib/measure.mjs';

const COUNT = 'select count(*) as n from users';
/** 100 rows of ~110 bytes per tenant, on PostgreSQL and MySQL/MariaDB alike. */
const HUNDRED_ROWS =
  "with recursive r(i) as (select 1 union all select i + 1 from r where i < 100) select i, repeat('x', 100) as pad from r";

/** What a script without tenantctl does: a knex per tenant database, the statement, close; `concurrency` at a time. */
function bareKnexLoop(fleet, concurrency) {
  return timeIt(() =>
    pool(fleet.slugs, concurrency, async (slug) => {
      const knex = fleet.adminKnex(fleet.database(slug));
      try {
        await knex.raw(COUNT);
      } finally {
        await knex.destroy();
      }
    }),
  );
}

/**
 * The same loop logged in as each tenant (its own user and password, read beforehand through the
 * library, untimed): what tenantctl's query does per tenant, without tenantctl. The difference
 * from the admin's loop is the tenant logins (PostgreSQL: SCRAM for each).
 */
async function bareTenantLoop(fleet, concurrency) {
  const { openFleet } = await import(join(REPO, 'dist/index.js'));
  const app = await openFleet({
    registryUrl: `sqlite:${join(fleet.dir, '.tenantctl', 'registry.sqlite')}`,
    cwd: fleet.dir,
    readOnly: true,
  });
  const logins = new Map();
  try {
    for (const slug of fleet.slugs) logins.set(slug, await app.connectionConfig(slug));
  } finally {
    await app.close();
  }
  return timeIt(() =>
    pool(fleet.slugs, concurrency, async (slug) => {
      const { host, port, user, password, database } = logins.get(slug);
      const knex = knexFactory({
        client: fleet.client,
        connection: { host, port, user, password, database },
        pool: { min: 0, max: 1 },
      });
      try {
        await knex.raw(COUNT);
      } finally {
        await knex.destroy();
      }
    }),
  );
}

/** The shell loop an operator would write: the engine's client once per tenant, one after another. */
function shellLoop(fleet) {
  const url = new URL(fleet.env.TENANTCTL_SERVER_URL);
  const dbs = fleet.slugs.map((s) => fleet.database(s)).join(' ');
  const script =
    fleet.engine === 'postgres'
      ? `for db in ${dbs}; do psql -h ${url.hostname} -p ${url.port} -U ${url.username} -d "$db" -Atc "${COUNT}" > /dev/null || exit 1; done`
      : `CLIENT=$(command -v mariadb || command -v mysql); for db in ${dbs}; do "$CLIENT" -h ${url.hostname} -P ${url.port} -u ${url.username} -N -e "${COUNT}" "$db" > /dev/null || exit 1; done`;
  return runMeasured('bash', ['-c', script]);
}

async function tenantctlQuery(fleet, sql, concurrency, expectedRows) {
  const run = await runMeasured(
    process.execPath,
    [BIN, 'query', sql, '--all', '--format', 'ndjson', '--concurrency', String(concurrency)],
    { cwd: fleet.dir, env: fleet.env },
  );
  if (run.code !== 0) throw new Error(`query failed (${run.code}): ${run.stderr}`);
  const lines = run.stdout.split('\n').filter(Boolean).length;
  if (lines !== expectedRows) throw new Error(`query wrote ${lines} rows, expected ${expectedRows}`);
  return run;
}

export async function benchQuery(fleet, { concurrency }) {
  const rows = [];
  const row = (label, ms, peakMb) =>
    rows.push({ label, ms, tenants: fleet.count, perTenantMs: ms / fleet.count, ...(peakMb ? { peakMb } : {}) });
  // Warm the server's caches once, so the first measurement is not the only cold one.
  await bareKnexLoop(fleet, concurrency);
  const bare = await bareKnexLoop(fleet, concurrency);
  row(`bare in-process knex loop (admin login), concurrency ${concurrency}`, bare.ms);
  const bareTenants = await bareTenantLoop(fleet, concurrency);
  row(`bare in-process knex loop (each tenant's own login), concurrency ${concurrency}`, bareTenants.ms);
  // Warmed once too: a fleet just created is still being vacuumed and analysed by the server, and
  // each tenant's first login fills caches the loops above never touch.
  await tenantctlQuery(fleet, COUNT, concurrency, fleet.count);
  const query = await tenantctlQuery(fleet, COUNT, concurrency, fleet.count);
  row(`tenantctl query "${COUNT}" --all (whole process)`, query.ms, query.peakMb);
  // What the whole process costs beyond the tenants: start-up, the registry, reaching the server.
  const one = await runMeasured(process.execPath, [BIN, 'query', COUNT, fleet.slugs[0], '--format', 'ndjson'], {
    cwd: fleet.dir,
    env: fleet.env,
  });
  if (one.code !== 0) throw new Error(`query on one tenant failed: ${one.stderr}`);
  row('tenantctl query on one tenant (start-up and fixed costs)', one.ms, one.peakMb);
  const shell = await shellLoop(fleet);
  if (shell.code !== 0) throw new Error(`shell loop failed: ${shell.stderr}`);
  row(`shell loop of ${fleet.engine === 'postgres' ? 'psql -c' : 'mysql -e'} per tenant`, shell.ms);
  const hundred = await tenantctlQuery(fleet, HUNDRED_ROWS, concurrency, fleet.count * 100);
  row('tenantctl query, 100 rows per tenant, ndjson (whole process)', hundred.ms, hundred.peakMb);
  // Drift over the fleet: every tenant's catalog read as itself, against a fresh tenant built in
  // a scratch database (without the cache: every structure read in full; then with what that run
  // recorded: one digest query per unchanged tenant), then against a reference tenant.
  const diffs = {};
  for (const [label, extra] of [
    ['schema diff --all --no-cache against a fresh tenant (scratch database)', ['--no-cache']],
    ['schema diff --all, cached (every catalog unchanged since the run above)', []],
    [`schema diff --all --reference ${fleet.slugs[0]}, cached`, ['--reference', fleet.slugs[0]]],
  ]) {
    const diff = await runMeasured(
      process.execPath,
      [BIN, 'schema', 'diff', '--all', '--json', '--concurrency', String(concurrency), ...extra],
      { cwd: fleet.dir, env: fleet.env },
    );
    // Exit 1 is drift found (the bench's tables are not the project's): a run, not a failure.
    if (diff.code !== 0 && diff.code !== 1) throw new Error(`schema diff failed (${diff.code}): ${diff.stderr}`);
    row(`tenantctl ${label} (whole process)`, diff.ms, diff.peakMb);
    diffs[extra[0] ?? 'cached'] = diff.ms;
  }
  return {
    rows,
    ratios: {
      queryMs: query.ms,
      versusBareKnex: query.ms / bare.ms,
      versusBareTenantLoop: query.ms / bareTenants.ms,
      fixedMs: one.ms,
      versusBareKnexBeyondFixed: (query.ms - one.ms) / bare.ms,
      speedupOverShellLoop: shell.ms / query.ms,
      peakMbCount: query.peakMb,
      peakMbHundredRows: hundred.peakMb,
      schemaDiffUncachedMs: diffs['--no-cache'],
      schemaDiffCachedMs: diffs.cached,
    },
  };
}
