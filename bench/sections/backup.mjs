// backup --all against the obvious shell loop, and one large tenant to show memory stays flat.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN } from '../lib/fleet.mjs';
import { pool, runMeasured, timeIt } from '../lib/measure.mjs';

/** Gives every tenant some rows: 200 users, as a small real tenant might have. */
async function addRows(fleet, concurrency) {
  await pool(fleet.slugs, concurrency, async (slug) => {
    const knex = fleet.adminKnex(fleet.database(slug));
    try {
      await knex('users').insert(
        Array.from({ length: 200 }, (_, i) => ({ email: `user${i}@${slug}.test`, name: `User ${i} of ${slug}` })),
      );
    } finally {
      await knex.destroy();
    }
  });
}

/**
 * The shell loops an operator would write: one dump after another into files (`parallel` 1), or
 * `xargs -P<parallel>` running that many dumps at once.
 */
function shellLoop(fleet, outDir, parallel = 1) {
  const url = new URL(fleet.env.TENANTCTL_SERVER_URL);
  const dbs = fleet.slugs.map((s) => fleet.database(s)).join(' ');
  const one =
    fleet.engine === 'postgres'
      ? `pg_dump -Fc -h ${url.hostname} -p ${url.port} -U ${url.username} "$db" > "${outDir}/$db.pgdump"`
      : `"$DUMP" --single-transaction --routines --triggers --events -h ${url.hostname} -P ${url.port} -u ${url.username} "$db" | gzip > "${outDir}/$db.sql.gz"`;
  const tool = fleet.engine === 'postgres' ? '' : 'export DUMP=$(command -v mariadb-dump || command -v mysqldump); ';
  const script =
    parallel === 1
      ? `${tool}for db in ${dbs}; do ${one} || exit 1; done`
      : `${tool}printf '%s\\n' ${dbs} | xargs -P${parallel} -I{} bash -o pipefail -c 'db={}; ${one}'`;
  return runMeasured('bash', ['-c', script]);
}

/** One tenant with at least `gigabytes` GB of rows (random text, so it does not compress to nothing). */
export async function makeLargeTenant(fleet, gigabytes) {
  const slug = fleet.slugs[0];
  const knex = fleet.adminKnex(fleet.database(slug));
  const rows = Math.ceil((gigabytes * 1024 ** 3) / 300);
  try {
    await knex.schema.createTable('big_payload', (t) => {
      t.bigIncrements('id');
      t.text('payload');
    });
    if (fleet.engine === 'postgres') {
      await knex.raw(
        'insert into big_payload (payload) select md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) || md5(random()::text) from generate_series(1, ?)',
        [rows],
      );
      // The tenant's own, as a table its migrations made: a dump or a move reads it as the tenant.
      await knex.raw(
        "do $$ begin execute format('alter table big_payload owner to %I', (select pg_catalog.pg_get_userbyid(datdba) from pg_catalog.pg_database where datname = current_database())); end $$",
      );
      const size = await knex.raw('select pg_total_relation_size(?) as bytes', ['big_payload']);
      return { slug, rows, bytes: Number(size.rows[0].bytes) };
    }
    await knex.raw('create table seq500 (n int primary key)');
    await knex.raw(
      'insert into seq500 with recursive s(n) as (select 1 union all select n + 1 from s where n < 500) select n from s',
    );
    const blocks = Math.ceil(rows / 250_000);
    for (let i = 0; i < blocks; i++) {
      await knex.raw(
        'insert into big_payload (payload) select concat(md5(rand()), md5(rand()), md5(rand()), md5(rand()), md5(rand()), md5(rand()), md5(rand()), md5(rand())) from seq500 a cross join seq500 b where b.n <= 500',
      );
    }
    await knex.raw('drop table seq500');
    await knex.raw('analyze table big_payload');
    const [size] = await knex.raw(
      'select data_length + index_length as bytes from information_schema.tables where table_schema = database() and table_name = ?',
      ['big_payload'],
    );
    return { slug, rows: blocks * 250_000, bytes: Number(size[0].bytes) };
  } finally {
    await knex.destroy();
  }
}

/**
 * An s3rver on 127.0.0.1 (the first free port of 4570-4579) with a bucket, and the environment that
 * points tenantctl's backupStore at it (encrypted, the default for S3). BENCH_S3_ENV (JSON) names
 * another S3-compatible store instead.
 */
async function startStore() {
  if (process.env.BENCH_S3_ENV) return { env: JSON.parse(process.env.BENCH_S3_ENV), close: async () => {} };
  const S3rver = createRequire(import.meta.url)('s3rver');
  const directory = mkdtempSync(join(tmpdir(), 'tenantctl-bench-s3-'));
  for (let port = 4570; port <= 4579; port++) {
    // s3rver reports a taken port as an uncaught error, not a rejection: asked first.
    const free = await new Promise((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (!free) continue;
    const server = new S3rver({
      address: '127.0.0.1',
      port,
      silent: true,
      directory,
      configureBuckets: [{ name: 'bench' }],
    });
    await server.run();
    return {
      env: {
        TENANTCTL_BACKUP_STORE: 's3://bench/backups',
        TENANTCTL_S3_ENDPOINT: `http://127.0.0.1:${port}`,
        TENANTCTL_S3_FORCE_PATH_STYLE: 'true',
        TENANTCTL_S3_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
      },
      close: async () => {
        await server.close();
        rmSync(directory, { recursive: true, force: true });
      },
    };
  }
  throw new Error('no free port for s3rver in 4570-4579');
}

export async function benchBackup(fleet, { concurrency, largeGb }) {
  await addRows(fleet, concurrency);
  const rows = [];
  const outDir = join(fleet.dir, 'shell-backups');
  mkdirSync(outDir, { recursive: true });
  const shell = await shellLoop(fleet, outDir);
  if (shell.code !== 0) throw new Error(`shell loop failed: ${shell.stderr}`);
  const dumpCommand = fleet.engine === 'postgres' ? 'pg_dump -Fc db > file' : 'mariadb-dump db | gzip > file';
  rows.push({
    label: `shell loop: ${dumpCommand}, one after another`,
    ms: shell.ms,
    tenants: fleet.count,
    perTenantMs: shell.ms / fleet.count,
    peakMb: shell.peakMb,
  });
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const xargs = await shellLoop(fleet, outDir, concurrency);
  if (xargs.code !== 0) throw new Error(`xargs loop failed: ${xargs.stderr}`);
  rows.push({
    label: `shell loop: the same, ${concurrency} at once (xargs -P${concurrency})`,
    ms: xargs.ms,
    tenants: fleet.count,
    perTenantMs: xargs.ms / fleet.count,
    peakMb: xargs.peakMb,
  });
  rmSync(outDir, { recursive: true, force: true });

  for (const c of [1, concurrency]) {
    const run = await runMeasured(process.execPath, [BIN, 'backup', '--all', '--concurrency', String(c), '--json'], {
      cwd: fleet.dir,
      env: fleet.env,
    });
    if (run.code !== 0) throw new Error(`backup --all failed: ${run.stderr}`);
    rows.push({
      label: `tenantctl backup --all --concurrency ${c} (verified, recorded)`,
      ms: run.ms,
      tenants: fleet.count,
      perTenantMs: run.ms / fleet.count,
      peakMb: run.peakMb,
    });
  }

  // The same backups into an S3 store (s3rver on this machine), encrypted: stream, cipher, upload.
  const store = await startStore();
  let s3Best;
  try {
    const run = await runMeasured(
      process.execPath,
      [BIN, 'backup', '--all', '--concurrency', String(concurrency), '--json'],
      {
        cwd: fleet.dir,
        env: { ...fleet.env, ...store.env },
      },
    );
    if (run.code !== 0) throw new Error(`backup --all to S3 failed: ${run.stderr}`);
    s3Best = run.ms;
    rows.push({
      label: `tenantctl backup --all --concurrency ${concurrency} to an S3 store (s3rver), encrypted`,
      ms: run.ms,
      tenants: fleet.count,
      perTenantMs: run.ms / fleet.count,
      peakMb: run.peakMb,
    });
  } finally {
    if (largeGb <= 0) await store.close();
  }

  let large;
  if (largeGb > 0) {
    console.error(`[${fleet.engine}] filling one tenant with ${largeGb} GB of rows…`);
    large = await makeLargeTenant(fleet, largeGb);
    const run = await runMeasured(process.execPath, [BIN, 'backup', large.slug, '--json'], {
      cwd: fleet.dir,
      env: fleet.env,
    });
    if (run.code !== 0) throw new Error(`large backup failed: ${run.stderr}`);
    const backup = JSON.parse(run.stdout).tenants.tenants[0].backup;
    large = { ...large, backupBytes: backup.bytes, ms: run.ms, peakMb: run.peakMb };
    rows.push({
      label: `tenantctl backup of one tenant with ${(large.bytes / 1024 ** 3).toFixed(2)} GB of rows (dump ${(backup.bytes / 1024 ** 2).toFixed(0)} MB)`,
      ms: run.ms,
      tenants: 1,
      perTenantMs: run.ms,
      peakMb: run.peakMb,
    });
    try {
      const toS3 = await runMeasured(process.execPath, [BIN, 'backup', large.slug, '--json'], {
        cwd: fleet.dir,
        env: { ...fleet.env, ...store.env },
      });
      if (toS3.code !== 0) throw new Error(`large backup to S3 failed: ${toS3.stderr}`);
      large.s3 = { ms: toS3.ms, peakMb: toS3.peakMb };
      rows.push({
        label: `  the same tenant to the S3 store, encrypted (multipart upload, no local copy)`,
        ms: toS3.ms,
        tenants: 1,
        perTenantMs: toS3.ms,
        peakMb: toS3.peakMb,
      });
    } finally {
      await store.close();
    }
    // Each backup records every table's exact row count (for backup verify --restore-test): on
    // PostgreSQL one count in the dump's snapshot, beside pg_dump; elsewhere one before and one
    // after the dump. The cost of one such count on the large tenant.
    const knex = fleet.adminKnex(fleet.database(large.slug));
    try {
      const count = await timeIt(() => knex('big_payload').count({ n: '*' }));
      large.countMs = count.ms;
      rows.push({
        label: `  of which: one exact row count of that tenant (PostgreSQL: one per backup, beside the dump)`,
        ms: count.ms,
        tenants: 1,
        perTenantMs: count.ms,
      });
    } finally {
      await knex.destroy();
    }
  }
  const best = rows.find((r) => r.label.includes(`--concurrency ${concurrency} (`));
  return {
    rows,
    ratios: {
      concurrency,
      speedupOverShellLoop: shell.ms / best.ms,
      versusParallelShellLoop: best.ms / xargs.ms,
      s3SpeedupOverShellLoop: s3Best ? shell.ms / s3Best : null,
      s3VersusParallelShellLoop: s3Best ? s3Best / xargs.ms : null,
      largePeakMb: large?.peakMb ?? null,
      largeS3PeakMb: large?.s3?.peakMb ?? null,
    },
    large,
  };
}

/** The summary line under the table: item 6's goals (≥ 2× the loop, within 1.2× of xargs). */
export function describeBackup(r) {
  const goal = (speedup, versus) => (speedup >= 2 && versus <= 1.2 ? 'goal met' : 'goal MISSED');
  const local = `${r.speedupOverShellLoop.toFixed(2)}× faster than the shell loop, ${r.versusParallelShellLoop.toFixed(2)}× the time of xargs -P${r.concurrency} (${goal(r.speedupOverShellLoop, r.versusParallelShellLoop)})`;
  const s3 = r.s3SpeedupOverShellLoop
    ? `; to the S3 store, encrypted: ${r.s3SpeedupOverShellLoop.toFixed(2)}× faster, ${r.s3VersusParallelShellLoop.toFixed(2)}× xargs (${goal(r.s3SpeedupOverShellLoop, r.s3VersusParallelShellLoop)})`
    : '';
  const memory = r.largePeakMb
    ? `; peak memory on the large tenant: ${r.largePeakMb.toFixed(0)} MB${r.largeS3PeakMb ? `, ${r.largeS3PeakMb.toFixed(0)} MB to S3` : ''}`
    : '';
  return `  backup --all --concurrency ${r.concurrency} is ${local}${s3}${memory}`;
}
