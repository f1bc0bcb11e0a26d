// move: one tenant (filled with --move-gb GB of rows) moved to the second server of its engine
// (online where the source allows it, else offline: moveMode auto) and back offline (--offline),
// under a write load through the tenant's own login, reporting the mode, the downtime (fence to
// unfence), the whole move, the writes committed meanwhile and tenantctl's peak memory. An online
// move needs a source configured for replication: point TENANTCTL_TEST_PG_URL /
// TENANTCTL_TEST_MYSQL_URL (the fleet's server) and TENANTCTL_TEST_PG2_URL / TENANTCTL_TEST_MYSQL2_URL
// (the target) at such servers; the shared test servers are not, and move offline.
import { execFileSync } from 'node:child_process';
import knexFactory from 'knex';
import { BIN, SECOND_SERVER_URLS } from '../lib/fleet.mjs';
import { runMeasured } from '../lib/measure.mjs';
import { makeLargeTenant } from './backup.mjs';

/**
 * Inserts, one per transaction, as the tenant's own user on the server it is on, until stopped:
 * what a working tenant does while it moves. Refused statements (the fence) are retried.
 */
function writeLoad(fleet, slug, cli) {
  const shown = cli('show', slug, '--show-password');
  const url = new URL(SECOND_SERVER_URLS[fleet.engine]);
  const home = new URL(fleet.env.TENANTCTL_SERVER_URL);
  const on = shown.server === 'bench-second' ? url : home;
  const connection = {
    host: on.hostname,
    port: Number(on.port),
    user: shown.user,
    password: shown.password,
    database: shown.database,
  };
  // The fence refuses the load's logins: that is expected, counted, and not worth a stack trace.
  const quiet = { warn() {}, error() {}, debug() {}, deprecate() {} };
  let stopped = false;
  let committed = 0;
  let refused = 0;
  const done = (async () => {
    let knex = knexFactory({ client: fleet.client, connection, pool: { min: 0, max: 1 }, log: quiet });
    if (!(await knex.schema.hasTable('bench_writes')))
      await knex.schema.createTable('bench_writes', (t) => {
        t.increments('id');
        t.string('note', 64);
      });
    while (!stopped) {
      try {
        await knex('bench_writes').insert({ note: 'during the move' });
        committed++;
      } catch {
        refused++;
        await knex.destroy();
        await new Promise((resolve) => setTimeout(resolve, 50));
        knex = knexFactory({ client: fleet.client, connection, pool: { min: 0, max: 1 }, log: quiet });
      }
    }
    await knex.destroy();
  })();
  return {
    stop: async () => {
      stopped = true;
      await done;
      return { committed, refused };
    },
  };
}

export async function benchMove(fleet, { gigabytes, large: filled }) {
  const cli = (...args) =>
    JSON.parse(
      execFileSync(process.execPath, [BIN, ...args, '--json'], {
        cwd: fleet.dir,
        env: { ...process.env, ...fleet.env },
      }).toString(),
    );
  cli('server', 'add', 'bench-second', '--url', SECOND_SERVER_URLS[fleet.engine]);
  const home = cli('show', fleet.slugs[0]).server;
  let large = filled ?? { slug: fleet.slugs[0], bytes: 0 };
  if (gigabytes > 0 && !filled) {
    console.error(`[${fleet.engine}] filling one tenant with ${gigabytes} GB of rows…`);
    large = await makeLargeTenant(fleet, gigabytes);
  }
  const rows = [];
  let downtimeMs;
  for (const [to, mode] of [
    ['bench-second', []],
    [home, ['--offline']],
  ]) {
    // The load only on the way out: the way back is offline, fenced throughout.
    const load = mode.length ? null : writeLoad(fleet, large.slug, cli);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const run = await runMeasured(process.execPath, [BIN, 'move', large.slug, '--to', to, ...mode, '--json'], {
      cwd: fleet.dir,
      env: { ...fleet.env, TENANTCTL_MOVE_MODE: 'auto' },
    });
    const writes = load ? await load.stop() : null;
    if (run.code !== 0) throw new Error(`move to ${to} failed: ${run.stderr}`);
    const result = JSON.parse(run.stdout);
    downtimeMs ??= result.downtimeMs;
    const size = large.bytes > 0 ? `${(large.bytes / 1024 ** 3).toFixed(2)} GB of rows` : 'a freshly created tenant';
    rows.push({
      label: `${result.mode} move of ${size} to ${to === home ? 'its first server' : 'the second server'}: downtime ${(result.downtimeMs / 1000).toFixed(1)} s (${Object.entries(
        result.steps,
      )
        .map(([s, ms]) => `${s} ${(ms / 1000).toFixed(1)}s`)
        .join(', ')})${
        result.verified?.writesPausedMs !== undefined
          ? `; writes paused ${result.verified.writesPausedMs} ms for the live comparison`
          : ''
      }${writes ? `; ${writes.committed} writes committed meanwhile` : ''}`,
      ms: run.ms,
      tenants: 1,
      perTenantMs: run.ms,
      peakMb: run.peakMb,
    });
  }
  return { rows, ratios: { downtimeMs, peakMb: Math.max(...rows.map((r) => r.peakMb ?? 0)) } };
}
