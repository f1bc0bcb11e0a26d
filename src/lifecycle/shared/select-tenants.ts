import type { Context } from '../../context/context.js';
import { NotFoundError, UsageError } from '../../core/errors.js';
import { EXISTING_SLUG, validateSlug } from '../../core/slug.js';
import { failedTenantIds, lastRun, type RunKind } from '../../registry/runs-repo.js';
import { listTenantRows, type TenantStatus, type TenantWithServer } from '../../registry/tenants-repo.js';
import { assertNotMoving, isMoving } from './tenant-moving.js';

/** Which tenants a fleet command works on; every filter narrows. */
export interface TenantSelection {
  /** `--tenants a,b,c`: these tenants only; an unknown slug is an error. */
  slugs?: string[];
  /** `--status`; defaults to every status whose database exists. */
  statuses?: TenantStatus[];
  plans?: string[];
  /** `--server`: by the registry's server name. */
  servers?: string[];
  /** `--retry-failed`: only the tenants that failed in the last run of this kind. */
  retryFailed?: boolean;
}

/** Statuses whose database exists, so fleet commands can work on it. */
export const WITH_DATABASE: TenantStatus[] = ['active', 'suspended'];

/** What a selection is for: a recorded run kind (`--retry-failed` looks up its last run), or a read. */
export type SelectionPurpose = RunKind | 'backup' | 'stats' | 'rotate-password' | 'query' | 'setup' | 'schema diff';

export async function selectTenants(
  ctx: Context,
  selection: TenantSelection,
  kind: SelectionPurpose,
): Promise<TenantWithServer[]> {
  for (const slug of selection.slugs ?? []) validateSlug(slug, EXISTING_SLUG);
  const outside = (selection.statuses ?? []).filter((s) => !WITH_DATABASE.includes(s));
  if (outside.length) {
    throw new UsageError(
      `--status ${outside.join(',')}: ${kind} works on tenants whose database exists (${WITH_DATABASE.join(', ')})`,
    );
  }
  const registry = await ctx.registry();
  let rows = await listTenantRows(registry.knex, {
    slugs: selection.slugs,
    plans: selection.plans,
    statuses:
      selection.slugs?.length && !selection.statuses?.length ? undefined : (selection.statuses ?? WITH_DATABASE),
  });
  if (selection.slugs?.length) {
    const found = new Set(rows.map((r) => r.slug));
    const missing = selection.slugs.filter((s) => !found.has(s));
    if (missing.length) throw new NotFoundError(`no tenant ${missing.map((s) => `"${s}"`).join(', ')} in the registry`);
    const unusable = rows.filter((r) => !WITH_DATABASE.includes(r.status));
    if (unusable.length) {
      throw new UsageError(
        `${unusable.map((r) => `"${r.slug}" is ${r.status}`).join(', ')}: ${kind} needs an active or suspended tenant`,
      );
    }
  }
  // A tenant being moved is fenced and its copy in flux: named, it is refused; otherwise left out.
  if (kind !== 'stats') {
    for (const row of rows) if (selection.slugs?.length) assertNotMoving(row, `worked on by ${kind}`);
    rows = rows.filter((r) => !isMoving(r));
  }
  if (selection.servers?.length) {
    const known = new Set(rows.map((r) => r.server_name));
    rows = rows.filter((r) => selection.servers!.includes(r.server_name));
    if (rows.length === 0 && !selection.servers.some((s) => known.has(s))) {
      throw new NotFoundError(`no tenants on server ${selection.servers.join(', ')}`);
    }
  }
  if (selection.retryFailed) {
    if (kind !== 'migrate' && kind !== 'rollback') throw new UsageError(`--retry-failed does not apply to ${kind}`);
    const run = await lastRun(registry.knex, kind);
    const failed = new Set(run ? await failedTenantIds(registry.knex, run.id) : []);
    rows = rows.filter((r) => failed.has(r.id));
  }
  return rows;
}
