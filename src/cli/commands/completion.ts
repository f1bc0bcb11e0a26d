import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { configFor, withCommandContext } from '../action.js';
import { SHELLS, completionScript, type Shell } from '../render/completion-scripts.js';

/** How long the names a completion offers are reused before the registry is read again. */
const CACHE_SECONDS = 30;

export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (bash, zsh or fish): commands, flags, tenant slugs, server names')
    .argument('<shell>', SHELLS.join(', '))
    .action((shell: string) => {
      if (!SHELLS.includes(shell as Shell))
        throw new UsageError(`the shell must be one of ${SHELLS.join(', ')} (got "${shell}")`);
      let root = program;
      while (root.parent) root = root.parent;
      process.stdout.write(completionScript(root, shell as Shell));
    });
  // What the scripts call as the operator types: names from the registry, one a line.
  program
    .command('__complete-names', { hidden: true })
    .argument('<kind>', 'tenants or servers')
    .action(async (kind: string, _flags: unknown, command: Command) => {
      if (kind !== 'tenants' && kind !== 'servers') throw new UsageError('tenants or servers');
      const names = await cachedNames(command);
      process.stdout.write(names[kind].map((name) => `${name}\n`).join(''));
    });
}

interface CachedNames {
  at: number;
  tenants: string[];
  servers: string[];
}

/**
 * The registry's names, kept for CACHE_SECONDS in `<home>/completion-names.json`: completing a
 * word should not open the registry at every Tab. Only names (no secret) are kept.
 */
async function cachedNames(command: Command): Promise<CachedNames> {
  const { config } = configFor(command);
  const file = join(config.home, 'completion-names.json');
  try {
    const cached = JSON.parse(readFileSync(file, 'utf8')) as CachedNames;
    if (Date.now() - cached.at < CACHE_SECONDS * 1000) return cached;
  } catch {
    // No cache yet, or an unreadable one: read the registry.
  }
  let names: CachedNames = { at: Date.now(), tenants: [], servers: [] };
  await withCommandContext(command, async (ctx) => {
    const { completionNames } = await import('../../lifecycle/registry/index.js');
    names = { at: Date.now(), ...(await completionNames(ctx)) };
  });
  if (existsSync(config.home)) {
    mkdirSync(config.home, { recursive: true });
    const temporary = `${file}.tmp-${process.pid}`;
    writeFileSync(temporary, JSON.stringify(names));
    renameSync(temporary, file);
  }
  return names;
}
