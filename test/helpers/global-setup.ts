import type { TestProject } from 'vitest/node';
import { selectedEngines, SERVER_URLS, unreachableReason } from './engines.js';

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
    if (reason) problems.push(`${engine} at ${SERVER_URLS[engine]}: ${reason}`);
    else reachable.push(engine);
  }
  if (problems.length) {
    const banner = `\n${'!'.repeat(78)}\n  DATABASE SERVERS UNREACHABLE: their tests are SKIPPED\n  ${problems.join('\n  ')}\n${'!'.repeat(78)}\n`;
    if (process.env.CI) throw new Error(`CI is set and servers are unreachable:${banner}`);
    process.stderr.write(banner);
  }
  project.provide('reachableEngines', reachable);
}
