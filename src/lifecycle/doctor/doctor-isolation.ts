import { dumpToolsFrom } from '../../engines/engine-driver.js';
import { rmSync } from 'node:fs';
import { basename } from 'node:path';
import type { Context } from '../../context/context.js';
import { leftoverCredentialFiles } from '../../engines/credential-file.js';
import type { NewFinding } from './findings.js';

/**
 * `registry_exposed`: other users of the registry's server (tenants' users among them) may reach
 * the registry database, and tenantctl could not close it when it opened the registry (its user
 * is not the database's owner): the message ends with the statements the owner runs.
 */
export async function registryExposureFinding(ctx: Context): Promise<NewFinding | undefined> {
  const registry = await ctx.registry();
  const exposure = await registry.driver.registryExposure(registry.knex);
  if (!exposure) return undefined;
  return { kind: 'registry_exposed', target: { type: 'registry' }, tenant: null, server: null, message: exposure };
}

/**
 * `credential_leftover`: credential files (holding admin passwords) that tenantctl runs killed
 * mid-dump left on this machine; the repair removes them, as the next dump would.
 */
export function credentialLeftoverFinding(
  ctx: Context,
): { finding: NewFinding; repair: () => Promise<void> } | undefined {
  const directory = dumpToolsFrom(ctx.config).credentialDir;
  const leftovers = leftoverCredentialFiles(directory);
  if (leftovers.length === 0) return undefined;
  const count = `${leftovers.length} credential file${leftovers.length === 1 ? '' : 's'}`;
  return {
    finding: {
      kind: 'credential_leftover',
      target: { type: 'directory', path: directory },
      tenant: null,
      server: null,
      message: `${count} of killed tenantctl runs (holding server passwords) left in ${directory}: ${leftovers.map((l) => basename(l.file)).join(', ')}`,
      autoFix: true,
    },
    repair: async () => {
      for (const { file } of leftovers) rmSync(file, { force: true });
    },
  };
}
