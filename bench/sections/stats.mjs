// stats over the fleet against the per-tenant-connection approach a script would take.
import { BIN } from '../lib/fleet.mjs';
import { pool, runMeasured, timeIt } from '../lib/measure.mjs';

/** What a hand-written script does: connect to every tenant database and ask it. */
async function perTenantConnections(fleet, concurrency) {
  return timeIt(() =>
    pool(fleet.slugs, concurrency, async (slug) => {
      const knex = fleet.adminKnex(fleet.database(slug));
      try {
        if (fleet.engine === 'postgres') {
          await knex.raw('select pg_database_size(current_database())');
          await knex.raw('select count(*), sum(n_live_tup) from pg_stat_user_tables');
        } else {
          await knex.raw(
            'select count(*), sum(table_rows), sum(data_length + index_length) from information_schema.tables where table_schema = database()',
          );
        }
        await knex('knex_migrations').orderBy('id').pluck('name');
      } finally {
        await knex.destroy();
      }
    }),
  );
}

export async function benchStats(fleet, { concurrency }) {
  const rows = [];
  /** A tenantctl command over the whole fleet, run as its own process. */
  const command = (args) => runMeasured(process.execPath, [BIN, ...args], { cwd: fleet.dir, env: fleet.env });
  const record = (label, run) =>
    rows.push({ label, ms: run.ms, tenants: fleet.count, perTenantMs: run.ms / fleet.count, peakMb: run.peakMb });
  const naive = await perTenantConnections(fleet, concurrency);
  rows.push({
    label: `per-tenant connections (size, tables, rows, migrations), concurrency ${concurrency}`,
    ms: naive.ms,
    tenants: fleet.count,
    perTenantMs: naive.ms / fleet.count,
  });
  // With --tables: what stats did before issue 16 (a connection per database on PostgreSQL).
  const full = await command(['stats', '--json', '--tables']);
  if (full.code !== 0) throw new Error(`stats --tables failed: ${full.stderr}`);
  const result = JSON.parse(full.stdout);
  if (result.tenants.length !== fleet.count)
    throw new Error(`stats saw ${result.tenants.length} of ${fleet.count} tenants`);
  record('tenantctl stats --json --tables (whole process)', full);
  // The default, as a node_exporter textfile export every few minutes would run it.
  const run = await command(['stats', '--format', 'prometheus']);
  if (run.code !== 0) throw new Error(`stats failed: ${run.stderr}`);
  const exported = run.stdout
    .split('\n')
    .filter((line) => line.startsWith('tenantctl_tenant_database_size_bytes{')).length;
  if (exported !== fleet.count) throw new Error(`the Prometheus export has ${exported} of ${fleet.count} tenants`);
  record('tenantctl stats --format prometheus (default; whole process)', run);
  // The other commands that read the whole fleet: the registry alone, and every server's catalog.
  const list = await command(['list', '--json']);
  if (list.code !== 0) throw new Error(`list failed: ${list.stderr}`);
  const listed = JSON.parse(list.stdout).length;
  if (listed !== fleet.count) throw new Error(`list --json has ${listed} of ${fleet.count} tenants`);
  record('tenantctl list --json (whole process)', list);
  const doctor = await command(['doctor', '--json']);
  // Exit 1 is a finding (a backup never taken, say), not a failure of the measurement.
  if (doctor.code !== 0 && doctor.code !== 1) throw new Error(`doctor exited ${doctor.code}: ${doctor.stderr}`);
  record('tenantctl doctor --json (whole process)', doctor);
  return {
    rows,
    ratios: {
      listMs: list.ms,
      doctorMs: doctor.ms,
      statsMs: run.ms,
      statsTablesMs: full.ms,
      speedupOverPerTenant: naive.ms / run.ms,
      tablesSpeedupOverPerTenant: naive.ms / full.ms,
    },
  };
}
