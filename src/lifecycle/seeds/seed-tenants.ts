/** `tenantctl seed`: runs seeds on existing tenants, as a recorded run with an outcome per tenant. */
import { performance } from 'node:perf_hooks';
import type { Context } from '../../context/context.js';
import { LockedError, UsageError, errorMessage } from '../../core/errors.js';
import { runPool } from '../../core/run-pool.js';
import { ownerState } from '../../core/process-owner.js';
import {
  finishRun,
  listRunRows,
  markRunsInterrupted,
  recordOutcomes,
  startRun,
  type OutcomeRow,
} from '../../registry/runs-repo.js';
import type { TenantWithServer } from '../../registry/tenants-repo.js';
import { runSeedFiles, seedFiles } from '../../tenant-schema/run-seeds.js';
import { tenantProject } from '../../tenant-schema/tenant-project.js';
import { selectTenants, type TenantSelection } from '../shared/select-tenants.js';
import { withTenantKnex } from '../shared/tenant-database.js';
import { assertTenantCodeTrusted, tenantLogin } from '../shared/tenant-login.js';
import { withTenantLock } from '../shared/tenant-lock.js';

export interface SeedTenantsOptions extends Omit<TenantSelection, 'retryFailed'> {
  /** One seed file of the seeds directory (its name), instead of all of them. */
  file?: string;
  /** Tenants seeded at once. Default the configuration's concurrency. */
  concurrency?: number;
}

export interface TenantSeedOutcome {
  slug: string;
  server: string;
  /** `busy`: another tenantctl holds the tenant; `unreachable`: its server did not answer. */
  outcome: 'seeded' | 'failed' | 'busy' | 'unreachable';
  /** The seed files run, in order. */
  seeds: string[];
  /** What each seed returned, by file (files returning nothing left out): may hold secrets. */
  returned: Record<string, unknown>;
  error?: string;
  durationMs: number;
}

export interface SeedTenantsResult {
  runId: number;
  /** Every tenant seeded. */
  ok: boolean;
  seeds: string[];
  tenants: TenantSeedOutcome[];
  counts: { seeded: number; failed: number; busy: number; unreachable: number };
}

/**
 * Runs the seeds (or one of them) on each selected active tenant, logged in as the tenant's own
 * user under its lock, as a run recorded before it acts (`runs`, kind `seed`). A seed is the
 * project's code, run again: it should be safe to repeat (insert what is missing). A tenant that
 * fails does not stop the others.
 */
export async function seedTenants(ctx: Context, options: SeedTenantsOptions): Promise<SeedTenantsResult> {
  const project = await tenantProject(ctx);
  const available = seedFiles(project.seedsDir, project.seedExtensions);
  if (options.file !== undefined && !available.includes(options.file))
    throw new UsageError(
      `no seed "${options.file}" in ${project.seedsDir}${available.length ? ` (there are: ${available.join(', ')})` : ''}`,
    );
  if (available.length === 0) throw new UsageError(`no seeds in ${project.seedsDir}`);
  const seeds = options.file ? [options.file] : available;
  const tenants = await selectTenants(
    ctx,
    { slugs: options.slugs, statuses: options.statuses ?? ['active'], plans: options.plans, servers: options.servers },
    'seed',
  );
  // A suspended tenant's user cannot log in: seeding it would fail half-way through the run.
  const suspended = tenants.filter((t) => t.status !== 'active');
  if (suspended.length)
    throw new UsageError(`${suspended.map((t) => `"${t.slug}" is ${t.status}`).join(', ')}: seed needs active tenants`);
  // Without tenant users the seeds would run over the admin's session, firing the tenant's triggers.
  await assertTenantCodeTrusted(ctx, tenants, 'seed');
  const registry = await ctx.registry();
  // Seed runs take no fleet lock (tenants are locked one by one): one still marked running whose
  // process on this machine is gone was killed, and is marked so before a new one starts.
  const running = (await listRunRows(registry.knex, { limit: 100, kind: 'seed' })).filter(
    (r) => r.status === 'running',
  );
  await markRunsInterrupted(
    registry.knex,
    running.filter((r) => ownerState({ host: r.host, pid: r.pid, start: null }) === 'gone').map((r) => r.id),
  );
  const runId = await startRun(registry.knex, 'seed', { seeds, slugs: options.slugs ?? null }, tenants.length);
  const outcomes: TenantSeedOutcome[] = [];
  await runPool(tenants, options.concurrency ?? ctx.config.concurrency, async (t) => {
    const outcome = await seedOne(ctx, t, project, options.file);
    outcomes.push(outcome);
    const row: OutcomeRow = {
      run_id: runId,
      tenant_id: t.id,
      slug: t.slug,
      outcome: outcome.outcome === 'seeded' ? 'seeded' : outcome.outcome,
      // The files only: what seeds returned may be secret and is never stored.
      detail: JSON.stringify({ seeds: outcome.seeds }),
      error: outcome.error ?? null,
      duration_ms: outcome.durationMs,
      finished_at: new Date().toISOString(),
    };
    await recordOutcomes(registry.knex, [row]);
  });
  outcomes.sort((a, b) => a.slug.localeCompare(b.slug));
  const count = (o: TenantSeedOutcome['outcome']) => outcomes.filter((x) => x.outcome === o).length;
  const counts = {
    seeded: count('seeded'),
    failed: count('failed'),
    busy: count('busy'),
    unreachable: count('unreachable'),
  };
  await finishRun(registry.knex, runId, {
    succeeded: counts.seeded,
    failed: counts.failed + counts.unreachable,
    skipped: counts.busy,
  });
  return { runId, ok: counts.seeded === outcomes.length, seeds, tenants: outcomes, counts };
}

async function seedOne(
  ctx: Context,
  t: TenantWithServer,
  project: Awaited<ReturnType<typeof tenantProject>>,
  only: string | undefined,
): Promise<TenantSeedOutcome> {
  const started = performance.now();
  const base = { slug: t.slug, server: t.server_name, seeds: [] as string[], returned: {} };
  const took = () => Math.round(performance.now() - started);
  try {
    const run = await withTenantLock(ctx, t.slug, async () => {
      const server = await ctx.server(t.server_id);
      const tenant = { slug: t.slug, name: t.name, plan: t.plan, metadata: JSON.parse(t.metadata) };
      return withTenantKnex(
        server.connection,
        tenantLogin(ctx, server, t),
        (knex) =>
          runSeedFiles(knex, project.seedsDir, tenant, {
            ...(project.seedExtensions ? { extensions: project.seedExtensions } : {}),
            ...(only ? { only } : {}),
          }),
        project.knex.factory,
      );
    });
    return { ...base, outcome: 'seeded', seeds: run.files, returned: run.returned, durationMs: took() };
  } catch (error) {
    if (error instanceof LockedError)
      return { ...base, outcome: 'busy', error: errorMessage(error), durationMs: took() };
    const unanswered = await ctx.unansweredServer(t.server_id);
    return {
      ...base,
      outcome: unanswered ? 'unreachable' : 'failed',
      error: errorMessage(unanswered ?? error),
      durationMs: took(),
    };
  }
}
