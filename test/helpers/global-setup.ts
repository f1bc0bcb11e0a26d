import type { TestProject } from 'vitest/node';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SECOND_SERVER_URLS, selectedEngines, SERVER_URLS, unreachableReason } from './engines.js';

const SECOND_SERVERS = fileURLToPath(new URL('../servers/second-servers.sh', import.meta.url));

declare module 'vitest' {
  export interface ProvidedContext {
    /** Engines whose server answered; the others' tests are skipped (never under CI). */
    reachableEngines: string[];
  }
}

/**
 * Checks the real servers once. Outside CI an unreachable server skips its tests, loudly;
 * under CI it fails the run, so a green CI always means every engine was tested.
 */
export default async function setup(project: TestProject): Promise<void> {
  const reachable: string[] = [];
  const problems: string[] = [];
  for (const engine of selectedEngines()) {
    if (engine === 'sqlite') {
      reachable.push(engine);
      continue;
    }
    const reason = await unreachableReason(engine);
    if (reason) {
      problems.push(`${engine} at ${SERVER_URLS[engine]}: ${reason}`);
      continue;
    }
    // The second instance of each engine, for multi-server tests: created and started if missing.
    if (await unreachableReason(engine, 'second')) {
      const started = spawnSync('bash', [SECOND_SERVERS, 'start'], { encoding: 'utf8' });
      const still = await unreachableReason(engine, 'second');
      if (still) {
        problems.push(
          `second ${engine} at ${SECOND_SERVER_URLS[engine]}: ${still}; ${SECOND_SERVERS} start said: ${started.stderr || started.error?.message}`,
        );
        continue;
      }
    }
    reachable.push(engine);
  }
  if (problems.length) {
    const banner = `\n${'!'.repeat(78)}\n  DATABASE SERVERS UNREACHABLE: their tests are SKIPPED\n  ${problems.join('\n  ')}\n${'!'.repeat(78)}\n`;
    if (process.env.CI) throw new Error(`CI is set and servers are unreachable:${banner}`);
    process.stderr.write(banner);
  }
  project.provide('reachableEngines', reachable);
}
