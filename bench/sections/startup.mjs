// Start-up: how long the CLI takes before it does any work, against a bare `node -e ''` on the
// same machine. Goals (issue 16): --help and --version within 100 ms of bare node, a simple
// `list` on the embedded registry within 200 ms of it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, REPO } from '../lib/fleet.mjs';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { runMeasured } from '../lib/measure.mjs';

const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

const GOALS_MS = { '--help': 100, '--version': 100, list: 200 };

/** One run: wall time, and CPU time (user + system) when /usr/bin/time is there. */
function once(args, { cwd, env }) {
  const started = process.hrtime.bigint();
  const [file, argv] = GNU_TIME
    ? [GNU_TIME, ['-f', '__CPU=%U %S', process.execPath, ...args]]
    : [process.execPath, args];
  const run = spawnSync(file, argv, { cwd, env: { ...process.env, ...env }, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  if (run.status !== 0) throw new Error(`node ${args.join(' ')} exited ${run.status}: ${run.stderr}`);
  const cpu = /__CPU=([\d.]+) ([\d.]+)/.exec(run.stderr);
  return { ms, cpuMs: cpu ? (Number(cpu[1]) + Number(cpu[2])) * 1000 : null };
}

/**
 * `runs` runs after one warm-up (so the file cache is warm). Start-up is short and other work on
 * the machine stretches it, so the fastest run is the figure compared with the goal; the median
 * wall time and the median CPU time are reported beside it.
 */
function measure(args, options, runs) {
  once(args, options);
  const results = Array.from({ length: runs }, () => once(args, options));
  const mid = (values) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
  return {
    bestMs: Math.min(...results.map((r) => r.ms)),
    medianMs: mid(results.map((r) => r.ms)),
    cpuMs: results[0].cpuMs === null ? null : mid(results.map((r) => r.cpuMs)),
  };
}

/** Start-up times of --help, --version and list, each against bare node. */
export async function benchStartup({ runs = 15 } = {}) {
  const home = mkdtempSync(join(tmpdir(), 'tenantctl-bench-startup-'));
  const options = { cwd: home, env: { TENANTCTL_HOME: home, NO_COLOR: '1' } };
  try {
    // Three embedded (SQLite) tenants, so that `list` reads and renders real rows.
    for (const slug of ['alpha', 'bravo', 'charlie']) {
      const create = await runMeasured(
        process.execPath,
        [BIN, 'create', slug, '--migrations-dir', join(REPO, 'migrations'), '--no-seed'],
        options,
      );
      if (create.code !== 0) throw new Error(`create ${slug} failed: ${create.stderr}`);
    }
    const bare = measure(['-e', ''], options, runs);
    const rows = [{ label: "node -e '' (bare)", ...bare }];
    const ratios = { bare, goalsMet: true };
    for (const [label, args] of [
      ['--help', ['--help']],
      ['--version', ['--version']],
      ['list', ['list']],
    ]) {
      const m = measure([BIN, ...args], options, runs);
      const overMs = m.bestMs - bare.bestMs;
      const met = overMs <= GOALS_MS[label];
      ratios[label] = { ...m, overBareMs: overMs, goalMs: GOALS_MS[label], met };
      if (!met) ratios.goalsMet = false;
      rows.push({
        label: `tenantctl ${label} (+${overMs.toFixed(0)} ms, goal +${GOALS_MS[label]} ms${met ? '' : ', MISSED'})`,
        ...m,
      });
    }
    return { rows, ratios };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
