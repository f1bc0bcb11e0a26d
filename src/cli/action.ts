import type { Command } from 'commander';
import type { Config } from '../config/config-keys.js';
import { resolveConfig, type ResolvedConfig } from '../config/resolve-config.js';
import { AppContext } from '../context/app-context.js';
import { Output } from './output.js';

/** Options every command accepts (declared once on the program). */
export interface GlobalOptions {
  config?: string;
  json?: boolean;
  verbose?: boolean;
  home?: string;
  registryUrl?: string;
  serverUrl?: string;
  serverName?: string;
  migrationsDir?: string;
  seedsDir?: string;
  concurrency?: string;
}

export function outputFor(command: Command): Output {
  const opts = command.optsWithGlobals<GlobalOptions>();
  return new Output(Boolean(opts.json), Boolean(opts.verbose));
}

export function configFor(command: Command): ResolvedConfig {
  const opts = command.optsWithGlobals<GlobalOptions>();
  const flags: Partial<Record<keyof Config, string>> = {
    home: opts.home,
    registryUrl: opts.registryUrl,
    serverUrl: opts.serverUrl,
    serverName: opts.serverName,
    migrationsDir: opts.migrationsDir,
    seedsDir: opts.seedsDir,
    concurrency: opts.concurrency,
  };
  return resolveConfig({ flags, env: process.env, cwd: process.cwd(), configFile: opts.config });
}

/**
 * Runs a command body with the resolved configuration, an open context and the output; closes
 * the context whatever happens. Errors go to the entry point, which picks the exit code.
 */
export async function withCommandContext(
  command: Command,
  body: (ctx: AppContext, out: Output) => Promise<void>,
): Promise<void> {
  const out = outputFor(command);
  const { config } = configFor(command);
  const ctx = new AppContext(config);
  try {
    await body(ctx, out);
  } finally {
    const generated = await ctx.generatedKeyFile();
    if (generated) out.notice(`Generated a new secret key in ${generated} (mode 0600). Back it up: without it, stored tenant passwords cannot be read.`);
    await ctx.close();
  }
}
