import type { Context } from '../../context/context.js';
import { LockedError, NotFoundError, errorMessage } from '../../core/errors.js';
import { ignoreProgress, progressCounter, type FleetProgress, type FleetRun } from '../../core/fleet-run.js';
import { runPool } from '../../core/run-pool.js';
import { stoppedBy, stopping, untilCut, type RunInterrupt } from '../../core/run-interrupt.js';
import { findServerRow } from '../../registry/servers-repo.js';
import { listTenantRows } from '../../registry/tenants-repo.js';
import { MovedAwayError, moveTenant, type MoveResult } from './move-tenant.js';
import { assertTenantCodeTrusted } from '../shared/tenant-login.js';
import { WITH_DATABASE } from '../shared/select-tenants.js';

export interface EvacuateOutcome {
  slug: string;
  /**
   * `skipped`: no longer on the server when its turn came (moved or deleted by another tenantctl
   * meanwhile), or not started because the run was stopped; `busy`: another tenantctl held it.
   */
  outcome: 'moved' | 'failed' | 'planned' | 'skipped' | 'busy';
  target: string | null;
  downtimeMs: number | null;
  error?: string;
  result?: MoveResult;
}

/** `move --from-server`: its counts are fields of their own, as `--json` prints them. */
export interface EvacuateResult extends FleetRun<EvacuateOutcome> {
  ok: boolean;
  server: string;
  total: number;
  moved: number;
  failed: number;
  skipped: number;
  busy: number;
  dryRun: boolean;
  durationMs: number;
  tenants: EvacuateOutcome[];
  /** Stopped by the caller (the signal): tenants not started are `skipped`. */
  interrupted?: string;
}

export interface EvacuateOptions {
  concurrency: number;
  keepSource?: boolean;
  dryRun?: boolean;
  /** `--offline`: every tenant moved offline (see MoveInput.offline). */
  offline?: boolean;
  /** Stops the run early (the CLI's Ctrl-C and SIGTERM): see RunInterrupt. */
  interrupt?: RunInterrupt;
}

/**
 * `move --from-server`: moves every tenant off a server, `concurrency` at a time (default one),
 * placement choosing each target. Each tenant gets its own outcome; a failure does not stop the
 * others. A tenant no longer on the server when its turn comes is skipped (its move checks under
 * the tenant's lock). Drain the server first, or placement may send tenants back to it from elsewhere.
 */
export async function evacuateServer(
  ctx: Context,
  name: string,
  options: EvacuateOptions,
  onProgress: (progress: FleetProgress) => void = ignoreProgress,
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
  const progress = progressCounter(tenants.length, onProgress, started);
  const interrupt = options.interrupt;
  const settle = (index: number, outcome: EvacuateOutcome) => {
    outcomes[index] = outcome;
    progress(outcome.outcome === 'failed');
  };
  const notMoved = (slug: string, outcome: EvacuateOutcome['outcome'], error: string): EvacuateOutcome => ({
    slug,
    outcome,
    target: null,
    downtimeMs: null,
    error,
  });
  await runPool(
    tenants,
    options.concurrency,
    async (tenant, index) => {
      try {
        const moving = moveTenant(ctx, {
          slug: tenant.slug,
          keepSource: options.keepSource,
          dryRun: options.dryRun,
          offline: options.offline,
          onlyFrom: server.id,
        });
        // A move cut half-way is what a killed one is: `tenantctl move <slug>` finishes or rolls it back.
        const result = await untilCut(moving, interrupt?.cut, () => undefined);
        settle(
          index,
          result
            ? {
                slug: tenant.slug,
                outcome: options.dryRun ? 'planned' : 'moved',
                target: result.target,
                downtimeMs: result.downtimeMs,
                result,
              }
            : notMoved(
                tenant.slug,
                'failed',
                `cut (${stoppedBy(interrupt)}): run "tenantctl move ${tenant.slug}" to finish or roll back its move`,
              ),
        );
      } catch (error) {
        const outcome = error instanceof MovedAwayError ? 'skipped' : error instanceof LockedError ? 'busy' : 'failed';
        settle(index, notMoved(tenant.slug, outcome, errorMessage(error)));
      }
    },
    {
      shouldStop: () => stopping(interrupt),
      onSkipped: (tenant, index) =>
        settle(index, notMoved(tenant.slug, 'skipped', `not started: stopped by ${stoppedBy(interrupt)}`)),
    },
  );
  const count = (kind: EvacuateOutcome['outcome']) => outcomes.filter((o) => o.outcome === kind).length;
  const interrupted = stoppedBy(interrupt);
  const failed = count('failed');
  return {
    ok: failed === 0 && count('busy') === 0 && !interrupted,
    server: name,
    total: tenants.length,
    moved: count(options.dryRun ? 'planned' : 'moved'),
    failed,
    skipped: count('skipped'),
    busy: count('busy'),
    dryRun: Boolean(options.dryRun),
    durationMs: Date.now() - started,
    tenants: outcomes,
    ...(interrupted ? { interrupted } : {}),
  };
}
