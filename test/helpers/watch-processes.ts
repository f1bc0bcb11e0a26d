import { readdirSync, readFileSync } from 'node:fs';

/**
 * Until `done` settles, reads every process's command line every 20 ms and keeps those `match`
 * accepts, with their environment when readable: how a test sees what a child was given.
 */
export async function watchProcesses(
  done: Promise<unknown>,
  match: (cmdline: string) => boolean,
): Promise<Array<{ cmdline: string; environ: string }>> {
  const seen: Array<{ cmdline: string; environ: string }> = [];
  let finished = false;
  void done.finally(() => (finished = true));
  while (!finished) {
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
        if (!match(cmdline)) continue;
        let environ = '';
        try {
          environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
        } catch {
          // not ours to read
        }
        seen.push({ cmdline, environ });
      } catch {
        // the process ended
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return seen;
}
