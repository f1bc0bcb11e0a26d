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

/** What a seed run did: the files run in order, and what each seed returned (files returning nothing left out). */
export interface SeedsRun {
  files: string[];
  returned: Record<string, unknown>;
}

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
  return (await runSeedFiles(knex, directory, tenant, { extensions })).files;
}

/** The seed files of a directory, in the order they run. */
export function seedFiles(directory: string, extensions?: readonly string[]): string[] {
  if (!existsSync(directory)) return [];
  return readdirSync(directory)
    .filter((name) => isLoadableFile(name, extensions))
    .sort();
}

/**
 * Runs the seeds (`only`: that one file of the directory) and keeps what each returned, e.g. a
 * generated first-admin password, for the caller to hand on (masked unless asked: a seed's value
 * may be a secret).
 */
export async function runSeedFiles(
  knex: Knex,
  directory: string,
  tenant: SeedTenant,
  options: { extensions?: readonly string[]; only?: string } = {},
): Promise<SeedsRun> {
  const files = seedFiles(directory, options.extensions).filter((f) => !options.only || f === options.only);
  const returned: Record<string, unknown> = {};
  // Loading a seed runs its top-level code too: both under the guard.
  await withExitGuard(async () => {
    for (const file of files) {
      const module = await importUserModule<SeedModule>(join(directory, file));
      if (typeof module.seed !== 'function') throw new UsageError(`seed ${file} exports no seed() function`);
      try {
        const value = await module.seed(knex, tenant);
        if (value !== undefined && value !== null) returned[file] = value;
      } catch (error) {
        throw new TenantctlError(`seed ${file}: ${(error as Error).message}`, { cause: error });
      }
    }
  });
  return { files, returned };
}
