import type { Context } from '../../context/context.js';
import { describeServer } from '../../engines/server-spec.js';
import { LATEST_REGISTRY_MIGRATION } from '../../registry/schema/index.js';

export interface InitResult {
  /** The registry's location, without credentials. */
  registry: string;
  schemaVersion: string;
  /** Where the secret key comes from. */
  secretKey: string;
}

/** Opens (and so migrates) the registry and loads, or generates, the secret key. */
export async function initRegistry(ctx: Context): Promise<InitResult> {
  const registry = await ctx.registry();
  const key = await ctx.secretKey();
  return {
    registry: describeServer(registry.spec),
    schemaVersion: LATEST_REGISTRY_MIGRATION,
    secretKey: ctx.config.secretKey
      ? 'secretKey (configured)'
      : `${ctx.config.secretKeyFile}${key.generatedFile ? ' (generated now)' : ''}`,
  };
}
