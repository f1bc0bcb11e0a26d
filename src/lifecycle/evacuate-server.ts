import type { AppContext } from '../context/app-context.js';
import { NotFoundError, errorMessage } from '../core/errors.js';
import { runPool } from '../core/run-pool.js';
import { findServerRow } from '../registry/servers-repo.js';
import { listTenantRows } from '../registry/tenants-repo.js';
import { moveTenant, type MoveResult } from './move-tenant.js';
import { assertTenantCodeTrusted } from './tenant-login.js';
import { WITH_DATABASE } from './select-tenants.js';

export interface EvacuateOutcome {
  slug: string;
  outcome: 'moved' | 'failed' | 'planned';
  target: string | null;
  downtimeMs: number | null;
  error?: string;
  result?: MoveResult;
}

export interface EvacuateResult {
  ok: boolean;
  server: string;
  total: number;
  moved: number;
  failed: number;
  dryRun: boolean;
  durationMs: number;
  tenants: EvacuateOutcome[];
}

export interface EvacuateOptions {
  concurrency: number;
  keepSource?: boolean;
  dryRun?: boolean;
}

/**
 * `move --from-server`: moves every tenant off a server, `concurrency` at a time (default one),
 * placement choosing each target. Each tenant gets its own outcome; a failure does not stop the
 * others. Drain the server first, or placement may send tenants back to it from elsewhere.
 */
export async function evacuateServer(
  ctx: AppContext,
  name: string,
  options: EvacuateOptions,
  onProgress: (done: number, total: number, failed: number) => void = () => {},
): Promise<EvacuateResult> {
  const started = Date.now();
  const registry = await ctx.registry();
  const server = await findServerRow(registry.knex, { name });
  if (!server) throw new NotFoundError(`no server "${name}" in the registry (see: tenantctl server list)`);
  const tenants = (await listTenantRows(registry.knex, { statuses: WITH_DATABASE })).filter(
    (t) => t.server_id === server.id,
  );
  // Moving dumps and restores each tenant as its own user: refused up front for shared credentials.
  if (!options.dryRun) await assertTenantCodeTrusted(ctx, tenants, 'move --from-server');
  const outcomes: EvacuateOutcome[] = new Array(tenants.length);
  let done = 0;
  let failed = 0;
  await runPool(tenants, options.concurrency, async (tenant, index) => {
    try {
      const result = await moveTenant(ctx, {
        slug: tenant.slug,
        keepSource: options.keepSource,
        dryRun: options.dryRun,
      });
      outcomes[index] = {
        slug: tenant.slug,
        outcome: options.dryRun ? 'planned' : 'moved',
        target: result.target,
        downtimeMs: result.downtimeMs,
        result,
      };
    } catch (error) {
      failed++;
      outcomes[index] = {
        slug: tenant.slug,
        outcome: 'failed',
        target: null,
        downtimeMs: null,
        error: errorMessage(error),
      };
    }
    onProgress(++done, tenants.length, failed);
  });
  return {
    ok: failed === 0,
    server: name,
    total: tenants.length,
    moved: tenants.length - failed,
    failed,
    dryRun: Boolean(options.dryRun),
    durationMs: Date.now() - started,
    tenants: outcomes,
  };
}
