// move: one tenant (filled with --move-gb GB of rows) moved to the second server of its engine
// (online where the source allows it, else offline: moveMode auto) and back offline (--offline),
// reporting the mode, the downtime (fence to unfence), the whole move and tenantctl's peak memory.
import { execFileSync } from 'node:child_process';
import { BIN } from '../lib/fleet.mjs';
import { runMeasured } from '../lib/measure.mjs';
import { makeLargeTenant } from './backup.mjs';

const SECOND_URLS = { postgres: 'postgres://postgres@127.0.0.1:5433/postgres', mysql: 'mysql://root@127.0.0.1:3307' };

export async function benchMove(fleet, { gigabytes, large: filled }) {
  const cli = (...args) =>
    JSON.parse(
      execFileSync(process.execPath, [BIN, ...args, '--json'], {
        cwd: fleet.dir,
        env: { ...process.env, ...fleet.env },
      }).toString(),
    );
  cli('server', 'add', 'bench-second', '--url', SECOND_URLS[fleet.engine]);
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
    const run = await runMeasured(process.execPath, [BIN, 'move', large.slug, '--to', to, ...mode, '--json'], {
      cwd: fleet.dir,
      env: { ...fleet.env, TENANTCTL_MOVE_MODE: 'auto' },
    });
    if (run.code !== 0) throw new Error(`move to ${to} failed: ${run.stderr}`);
    const result = JSON.parse(run.stdout);
    downtimeMs ??= result.downtimeMs;
    const size = large.bytes > 0 ? `${(large.bytes / 1024 ** 3).toFixed(2)} GB of rows` : 'a freshly created tenant';
    rows.push({
      label: `${result.mode} move of ${size} to ${to === home ? 'its first server' : 'the second server'}: downtime ${(result.downtimeMs / 1000).toFixed(1)} s (${Object.entries(
        result.steps,
      )
        .map(([s, ms]) => `${s} ${(ms / 1000).toFixed(1)}s`)
        .join(', ')})`,
      ms: run.ms,
      tenants: 1,
      perTenantMs: run.ms,
      peakMb: run.peakMb,
    });
  }
  return { rows, ratios: { downtimeMs, peakMb: Math.max(...rows.map((r) => r.peakMb ?? 0)) } };
}
