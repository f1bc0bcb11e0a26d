import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Knex } from 'knex';
import { TenantctlError, UsageError } from '../core/errors.js';
import { importUserModule, isLoadableFile } from './load-module.js';
import { withExitGuard } from './exit-guard.js';

/** What a seed receives as its second argument, so it can e.g. create the tenant's first admin. */
export interface SeedTenant {
  slug: string;
  name: string;
  plan: string | null;
  metadata: Record<string, unknown>;
}

type SeedModule = { seed?: (knex: Knex, tenant: SeedTenant) => unknown };

/**
 * Runs every seed file in name order: `seed(knex, tenant)`. Knex's own seeds take only `knex`;
 * they run here unchanged and simply ignore the tenant. Returns the files run.
 */
export async function runSeeds(
  knex: Knex,
  directory: string,
  tenant: SeedTenant,
  extensions?: readonly string[],
): Promise<string[]> {
  if (!existsSync(directory)) return [];
  const files = readdirSync(directory)
    .filter((name) => isLoadableFile(name, extensions))
    .sort();
  // Loading a seed runs its top-level code too: both under the guard.
  await withExitGuard(async () => {
    for (const file of files) {
      const module = await importUserModule<SeedModule>(join(directory, file));
      if (typeof module.seed !== 'function') throw new UsageError(`seed ${file} exports no seed() function`);
      try {
        await module.seed(knex, tenant);
      } catch (error) {
        throw new TenantctlError(`seed ${file}: ${(error as Error).message}`, { cause: error });
      }
    }
  });
  return files;
}
