import type { Config } from '../config/config-keys.js';
import { resolveConfig } from '../config/resolve-config.js';
import { AppContext } from '../context/app-context.js';
import type { Context } from '../context/context.js';

/**
 * tenantctl's configuration as a plain object: the keys of `tenantctl.config.json` (README,
 * "Configuration"), each optional; what is left out takes its default.
 */
export type TenantctlConfig = Partial<Config>;

export interface ContextOptions {
  /** Working directory for relative paths. Default `process.cwd()`. */
  cwd?: string;
  /** Environment variables (TENANTCTL_*) to read under the object's values; default none, so only `config` counts. */
  env?: NodeJS.ProcessEnv;
  /** Never write to the registry (no schema migration, no key generation). */
  readOnly?: boolean;
}

/**
 * The context every lifecycle operation takes (`createTenant(ctx, …)`), built from a plain
 * configuration object, checked as the CLI checks its configuration (a bad value throws a
 * UsageError naming the key). Close it with `ctx.close()`, or use `withTenantctl`.
 */
export function createContext(config: TenantctlConfig = {}, options: ContextOptions = {}): Context {
  const { config: resolved } = resolveConfig({
    flags: config,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
  });
  return new AppContext(resolved, { readOnly: options.readOnly });
}

/** Runs `fn` with a context built from `config`, and always closes it. */
export async function withTenantctl<T>(
  config: TenantctlConfig,
  fn: (ctx: Context) => Promise<T>,
  options: ContextOptions = {},
): Promise<T> {
  const ctx = createContext(config, options);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}
