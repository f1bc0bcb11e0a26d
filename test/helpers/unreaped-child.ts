import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { BIN, cleanEnv, type CliOptions } from './cli.js';

/**
 * A process started the way a cron wrapper or supervisor starts one: its parent (a shell) does
 * not wait for it, so once killed it stays a zombie until `reap` tells the shell to wait at last.
 */
export interface UnreapedChild {
  pid: number;
  /** Has the parent reap the child (and exit); call it in a `finally`. */
  reap(): Promise<void>;
}

/** Starts `tenantctl <args>` under a parent shell that does not reap it. */
export async function startUnreaped(args: string[], options: CliOptions): Promise<UnreapedChild> {
  const parent = spawn('sh', ['-c', '"$@" & echo $!; read line; wait', 'sh', process.execPath, BIN, ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const closed = new Promise<void>((resolve) => parent.on('close', () => resolve()));
  let output = '';
  const pid = await new Promise<number>((resolve, reject) => {
    parent.stdout!.on('data', (chunk) => {
      output += chunk;
      const line = /^(\d+)\n/.exec(output);
      if (line) resolve(Number(line[1]));
    });
    parent.on('error', reject);
    void closed.then(() => reject(new Error(`the wrapper shell ended early: ${output}`)));
  });
  return {
    pid,
    reap: async () => {
      parent.stdin!.end('\n');
      await closed;
    },
  };
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
