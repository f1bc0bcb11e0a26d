import { networkReason } from '../../core/errors.js';
import { sleep } from '../../core/duration.js';
import type { Registry } from '../../registry/registry.js';

/**
 * How long a fleet run keeps trying to record what it did while the registry is away (restarting,
 * failing over), before it gives up on the rest: 30 s, in tries 0.25 s, 0.5 s, 1 s, then 2 s apart.
 */
export const REGISTRY_RETRY_MS = 30_000;

/** Whether an error means the registry (not the statement) went away: worth trying again. */
export function isRegistryOutage(registry: Pick<Registry, 'driver'>, error: unknown): boolean {
  return registry.driver.isSessionLost(error) || networkReason(error) !== undefined;
}

/** Runs a registry write, trying again with backoff for up to `budgetMs` while the registry is away. */
export async function retryRegistry<T>(
  registry: Pick<Registry, 'driver'>,
  write: () => Promise<T>,
  budgetMs = REGISTRY_RETRY_MS,
): Promise<T> {
  const deadline = Date.now() + budgetMs;
  for (let wait = 250; ; wait = Math.min(wait * 2, 2000)) {
    try {
      return await write();
    } catch (error) {
      if (!isRegistryOutage(registry, error) || Date.now() + wait > deadline) throw error;
      await sleep(wait);
    }
  }
}
