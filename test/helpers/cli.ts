import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The built executable, run exactly as a user runs it. */
export const BIN = fileURLToPath(new URL('../../bin/tenantctl', import.meta.url));

/** The same, with the harness's kill points (see hooked-tenantctl.mjs): for a test that sets them. */
export const HOOKED_BIN = fileURLToPath(new URL('./hooked-tenantctl.mjs', import.meta.url));
const HOOK_VARIABLES = [
  'TENANTCTL_TEST_PAUSE_AT',
  'TENANTCTL_TEST_PAUSE_MS',
  'TENANTCTL_TEST_CORRUPT_TARGET',
  'TENANTCTL_TEST_ROTATE_PAUSE_MS',
];

/** The entry a CLI run with this environment takes: the hooked one only when a test asks for a hook. */
export function entryFor(env: Record<string, string | undefined>): string {
  return HOOK_VARIABLES.some((name) => env[name] !== undefined) ? HOOKED_BIN : BIN;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd: string;
  env: Record<string, string | undefined>;
}

/** The environment a test's CLI gets: the machine's, minus any TENANTCTL_* of the developer's. */
export function cleanEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('TENANTCTL_')));
  // An entry set to undefined removes the variable (e.g. a workspace without TENANTCTL_SERVER_URL).
  const merged: NodeJS.ProcessEnv = { ...base, NO_COLOR: '1', ...env };
  for (const [key, value] of Object.entries(merged)) if (value === undefined) delete merged[key];
  return merged;
}

/**
 * pg's warning that one client was given a query while it was still executing another: two
 * callers sharing a connection, a bug in tenantctl, never noise. Any CLI run that prints it fails
 * its test (with the stack, from --trace-deprecation).
 */
const PG_CONCURRENT_USE = /DeprecationWarning: Calling client\.query\(\) when the client is already executing a query/;

export function startCli(args: string[], options: CliOptions): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, ['--trace-deprecation', entryFor(options.env), ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (PG_CONCURRENT_USE.test(stderr))
        reject(new Error(`tenantctl ${args.join(' ')} used one pg client for two queries at once:\n${stderr}`));
      else resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

export function runCli(args: string[], options: CliOptions): Promise<CliResult> {
  return startCli(args, options).done;
}
