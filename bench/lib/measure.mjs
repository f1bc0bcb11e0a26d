// Timing and peak-memory helpers for the benchmark. Child processes are measured with
// /usr/bin/time (peak RSS) when the machine has it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;

/** Runs a command; resolves with its exit code, output, wall time and peak RSS in MB (or null). */
export function runMeasured(command, args, { cwd, env, input } = {}) {
  const started = process.hrtime.bigint();
  const [file, argv] = GNU_TIME ? [GNU_TIME, ['-f', '__PEAK_RSS_KB=%M', command, ...args]] : [command, args];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.stdin.end(input ?? '');
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const match = /__PEAK_RSS_KB=(\d+)/.exec(stderr);
      resolve({
        code,
        stdout,
        stderr: stderr.replace(/__PEAK_RSS_KB=\d+\n?/, ''),
        ms,
        peakMb: match ? Number(match[1]) / 1024 : null,
      });
    });
  });
}

/** Times an in-process async function. */
export async function timeIt(fn) {
  const started = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, value };
}

/** Runs `worker` over items, `concurrency` at a time, from one queue. */
export async function pool(items, concurrency, worker) {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      await worker(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, lane));
}

export const fmtMs = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
