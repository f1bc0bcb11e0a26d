import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cleanEnv, entryFor, type CliOptions } from './cli.js';

/**
 * A process started the way a cron wrapper or supervisor starts one: its parent does not wait
 * for it, so once killed it stays a zombie until `reap` tells the parent to wait at last.
 */
export interface UnreapedChild {
  pid: number;
  /** Kills the child if it still runs and has the parent reap it; call it in a `finally`. */
  reap(): Promise<void>;
}

/**
 * Python's Popen installs no SIGCHLD handler and reaps only when asked (a shell may reap a
 * background job whenever a signal interrupts it, which makes the zombie come and go).
 */
const PARENT =
  'import subprocess, sys\np = subprocess.Popen(sys.argv[1:])\nprint(p.pid, flush=True)\nsys.stdin.readline()\np.wait()\n';

/** Starts `command` under a parent (python3) that does not reap it. */
export async function startUnreaped(
  command: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<UnreapedChild> {
  const parent = spawn('python3', ['-c', PARENT, ...command], { ...options, stdio: ['pipe', 'pipe', 'ignore'] });
  const closed = new Promise<void>((resolve) => parent.on('close', () => resolve()));
  let output = '';
  const pid = await new Promise<number>((resolve, reject) => {
    parent.stdout.on('data', (chunk) => {
      output += chunk;
      const line = /^(\d+)\n/.exec(output);
      if (line) resolve(Number(line[1]));
    });
    parent.on('error', reject);
    void closed.then(() => reject(new Error(`the parent process ended early: ${output}`)));
  });
  return {
    pid,
    reap: async () => {
      if (processState(pid) !== 'Z') process.kill(pid, 'SIGKILL');
      parent.stdin.end('\n');
      await closed;
    },
  };
}

/** `tenantctl <args>` under a parent that does not reap it. */
export function startUnreapedCli(args: string[], options: CliOptions): Promise<UnreapedChild> {
  return startUnreaped([process.execPath, entryFor(options.env), ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env),
  });
}

/** A process's state letter from /proc (`Z` for a zombie), or undefined if there is no such process. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}
