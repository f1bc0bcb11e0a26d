import type { Context } from '../../context/context.js';
import { ConflictError, UsageError } from '../../core/errors.js';
import { validateText } from '../../core/text-limits.js';
import { assertMetadataAvailable, readIndexedKeys, writeMetadataIndex } from '../../registry/metadata-index-repo.js';
import { updateTenantRow, type Tenant } from '../../registry/tenants-repo.js';
import { loadTenantRow, reloadTenant } from '../shared/load-tenant.js';

export interface UpdateInput {
  name?: string;
  plan?: string;
  /** Metadata entries to set, of any JSON type (the CLI's `--set` gives strings, `--set-json` any). */
  set?: Record<string, unknown>;
  unset?: string[];
}

export interface UpdateResult {
  tenant: Tenant;
  /** The fields that changed; empty when the update changed nothing. */
  changed: string[];
}

/** Changes a tenant's display name, plan and metadata in the registry; its database is not touched. */
export async function updateTenant(ctx: Context, slug: string, input: UpdateInput): Promise<UpdateResult> {
  if (input.name === undefined && input.plan === undefined && !input.set && !input.unset?.length) {
    throw new UsageError('update: nothing to change (use --name, --plan, --set or --unset)');
  }
  if (input.name !== undefined && input.name.trim() === '') throw new UsageError('update: --name cannot be empty');
  validateText('name', input.name);
  validateText('plan', input.plan);
  const row = await loadTenantRow(ctx, slug);
  if (row.status === 'deleted' || row.status === 'deleting')
    throw new ConflictError(`tenant "${slug}" is ${row.status}: it cannot be updated`);
  const metadata = JSON.parse(row.metadata) as Record<string, unknown>;
  const next = { ...metadata, ...input.set };
  for (const key of input.unset ?? []) delete next[key];
  const changed: string[] = [];
  if (input.name !== undefined && input.name !== row.name) changed.push('name');
  if (input.plan !== undefined && input.plan !== row.plan) changed.push('plan');
  if (JSON.stringify(next) !== JSON.stringify(metadata)) changed.push('metadata');
  if (changed.length) {
    const registry = await ctx.registry();
    const indexedKeys = await readIndexedKeys(registry.knex);
    if (changed.includes('metadata')) await assertMetadataAvailable(registry.knex, indexedKeys, next, row.id);
    await updateTenantRow(registry.knex, row.id, {
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.plan !== undefined ? { plan: input.plan } : {}),
      metadata: JSON.stringify(next),
    });
    if (changed.includes('metadata')) await writeMetadataIndex(registry, row.id, indexedKeys, next);
  }
  return { tenant: await reloadTenant(ctx, slug), changed };
}
