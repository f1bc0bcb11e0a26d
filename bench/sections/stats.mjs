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
  const naive = await perTenantConnections(fleet, concurrency);
  rows.push({
    label: `per-tenant connections (size, tables, rows, migrations), concurrency ${concurrency}`,
    ms: naive.ms,
    tenants: fleet.count,
    perTenantMs: naive.ms / fleet.count,
  });
  // With --tables: what stats did before issue 16 (a connection per database on PostgreSQL).
  const full = await runMeasured(process.execPath, [BIN, 'stats', '--json', '--tables'], {
    cwd: fleet.dir,
    env: fleet.env,
  });
  if (full.code !== 0) throw new Error(`stats --tables failed: ${full.stderr}`);
  const result = JSON.parse(full.stdout);
  if (result.tenants.length !== fleet.count)
    throw new Error(`stats saw ${result.tenants.length} of ${fleet.count} tenants`);
  rows.push({
    label: 'tenantctl stats --json --tables (whole process)',
    ms: full.ms,
    tenants: fleet.count,
    perTenantMs: full.ms / fleet.count,
    peakMb: full.peakMb,
  });
  // The default, as a node_exporter textfile export every few minutes would run it.
  const run = await runMeasured(process.execPath, [BIN, 'stats', '--format', 'prometheus'], {
    cwd: fleet.dir,
    env: fleet.env,
  });
  if (run.code !== 0) throw new Error(`stats failed: ${run.stderr}`);
  const exported = run.stdout
    .split('\n')
    .filter((line) => line.startsWith('tenantctl_tenant_database_size_bytes{')).length;
  if (exported !== fleet.count) throw new Error(`the Prometheus export has ${exported} of ${fleet.count} tenants`);
  rows.push({
    label: 'tenantctl stats --format prometheus (default; whole process)',
    ms: run.ms,
    tenants: fleet.count,
    perTenantMs: run.ms / fleet.count,
    peakMb: run.peakMb,
  });
  // The other commands that read the whole fleet: the registry alone, and every server's catalog.
  const list = await runMeasured(process.execPath, [BIN, 'list', '--json'], { cwd: fleet.dir, env: fleet.env });
  if (list.code !== 0) throw new Error(`list failed: ${list.stderr}`);
  const listed = JSON.parse(list.stdout);
  const listedCount = (Array.isArray(listed) ? listed : listed.tenants).length;
  if (listedCount !== fleet.count) throw new Error(`list --json has ${listedCount} of ${fleet.count} tenants`);
  rows.push({
    label: 'tenantctl list --json (whole process)',
    ms: list.ms,
    tenants: fleet.count,
    perTenantMs: list.ms / fleet.count,
    peakMb: list.peakMb,
  });
  const doctor = await runMeasured(process.execPath, [BIN, 'doctor', '--json'], { cwd: fleet.dir, env: fleet.env });
  // Exit 1 is a finding (a backup never taken, say), not a failure of the measurement.
  if (doctor.code !== 0 && doctor.code !== 1) throw new Error(`doctor exited ${doctor.code}: ${doctor.stderr}`);
  rows.push({
    label: 'tenantctl doctor --json (whole process)',
    ms: doctor.ms,
    tenants: fleet.count,
    perTenantMs: doctor.ms / fleet.count,
    peakMb: doctor.peakMb,
  });
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
