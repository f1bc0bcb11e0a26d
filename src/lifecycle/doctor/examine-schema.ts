import type { Context } from '../../context/context.js';
import { schemaDiff } from '../schema/schema-diff.js';
import type { FindingList } from './findings.js';

/** Tenants a finding names before "and N more". */
const NAMED = 3;

/**
 * `doctor --schema-drift`: the fleet's structure grouped as `schema diff` groups it (every tenant
 * read as itself, within per-server limits, against a fresh tenant's built in a scratch database);
 * one `schema_drift` notice per variant that is not the expected one, saying how it differs.
 */
export async function examineSchemaDrift(ctx: Context, list: FindingList, only?: string): Promise<void> {
  // `doctor <slug> --schema-drift`: that tenant against a fresh tenant, its finding its own.
  const diff = await schemaDiff(ctx, { concurrency: ctx.config.concurrency, ...(only ? { slugs: [only] } : {}) });
  for (const variant of diff.variants) {
    if (variant.expected) continue;
    const names =
      variant.tenants.slice(0, NAMED).join(', ') + (variant.count > NAMED ? ` and ${variant.count - NAMED} more` : '');
    const shown = variant.summary.slice(0, 3).join('; ') + (variant.summary.length > 3 ? '; …' : '');
    list.add({
      kind: 'schema_drift',
      tenant: only ?? null,
      server: null,
      target: { type: 'tenant', slug: variant.tenants[0]! },
      message: `schema variant ${variant.name}: ${variant.count} tenant${variant.count === 1 ? '' : 's'} (${names}) differ from a fresh tenant: ${shown}; see "tenantctl schema diff"`,
    });
  }
}
