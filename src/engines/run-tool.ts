import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EnvironmentError, TenantctlError } from '../core/errors.js';
import { redact } from '../core/secrets.js';
import { noAnswerError } from './connection-guard.js';

/** A dump or restore tool failed; the message carries the end of its stderr, secrets removed. */
export class ToolError extends TenantctlError {
  override readonly code = 'tool_failed';
}

/**
 * Finds the first of `candidates` that is executable (a path, or a name on PATH). None: an
 * EnvironmentError that says what to install.
 */
export function resolveTool(candidates: string[], install: string): string {
  for (const candidate of candidates) {
    const paths =
      isAbsolute(candidate) || candidate.includes('/')
        ? [candidate]
        : (process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, candidate));
    for (const path of paths) {
      try {
        accessSync(path, constants.X_OK);
        return path;
      } catch {
        // not here
      }
    }
  }
  throw new EnvironmentError(`${candidates.join(' or ')} not found: install ${install}`);
}

/**
 * What a tool must never inherit from tenantctl's own environment: tenantctl's configuration
 * (the secret key, URLs with passwords), and a PGPASSWORD that would take precedence over the
 * password file tenantctl hands the tool.
 */
const withheld = (name: string) => name.startsWith('TENANTCTL_') || name.startsWith('AWS_') || name === 'PGPASSWORD';

export function inheritedEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !withheld(name)));
}

export interface ToolRun {
  command: string;
  args: string[];
  /** Extra environment (e.g. PGPASSFILE): passed to the child only, never on its command line. */
  env?: Record<string, string | undefined>;
  /** Streamed into the tool's stdin. */
  stdin?: Readable;
  /** Receives the tool's stdout. Without it stdout is discarded. */
  stdout?: Writable;
  /** Removed from any error text. */
  secrets?: Array<string | undefined>;
  /** Kills the tool when aborted (its server was lost); the run fails with the abort's reason. */
  signal?: AbortSignal;
  /**
   * Kills the tool when its stdout stays silent this long (a dump whose server stopped
   * answering); the run fails with a network timeout. Undefined: no such deadline.
   */
  idleMs?: number;
}

/** What stops a tool early: its server lost (`signal`), or its output silent (`idleMs`). */
export type ToolControl = Pick<ToolRun, 'signal' | 'idleMs'>;

/**
 * Runs a tool with its output streamed (never buffered), and resolves only if it exited 0 and
 * every stream finished. Keeps the last 4 KB of stderr for the error.
 */
export async function runTool(run: ToolRun): Promise<void> {
  run.signal?.throwIfAborted();
  const child = spawn(run.command, run.args, {
    env: { ...inheritedEnv(), ...run.env },
    stdio: [run.stdin ? 'pipe' : 'ignore', run.stdout ? 'pipe' : 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4096);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve(signal ? null : code));
  });
  // Why tenantctl stopped the tool, when it did: the server was lost, or the dump went silent.
  let stopped: Error | undefined;
  const stop = (reason: Error) => {
    stopped ??= reason;
    child.kill('SIGKILL');
  };
  const onAbort = () => stop(run.signal!.reason as Error);
  run.signal?.addEventListener('abort', onAbort, { once: true });
  let idle: NodeJS.Timeout | undefined;
  if (run.idleMs && run.stdout) {
    const ms = run.idleMs;
    idle = setTimeout(() => stop(noAnswerError(ms)), ms);
    child.stdout!.on('data', () => idle!.refresh());
  }
  const streams: Array<Promise<void>> = [];
  if (run.stdin) streams.push(pipeline(run.stdin, child.stdin!));
  if (run.stdout) streams.push(pipeline(child.stdout!, run.stdout));
  const failure = (message: string) =>
    new ToolError(
      redact(
        `${run.command.split('/').pop()} ${message}${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-5).join(' | ')}` : ''}`,
        run.secrets ?? [],
      ),
    );
  let streamError: unknown;
  await Promise.all(streams).catch((error) => {
    streamError = error;
    child.kill('SIGTERM');
  });
  const code = await exited.finally(() => {
    clearTimeout(idle);
    run.signal?.removeEventListener('abort', onAbort);
  });
  if (stopped) {
    const name = run.command.split('/').pop();
    const code = (stopped as { code?: unknown }).code;
    throw Object.assign(new Error(`${name} was stopped: ${stopped.message}`, { cause: stopped }), { code });
  }
  if (code !== 0) throw failure(code === null ? 'was killed' : `exited with code ${code}`);
  if (streamError) throw failure(`output failed: ${(streamError as Error).message}`);
}
