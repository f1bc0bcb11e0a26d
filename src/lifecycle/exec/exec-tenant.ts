import type { Knex } from 'knex';
import type { Context, ServerHandle } from '../../context/context.js';
import { formatDuration } from '../../core/duration.js';
import { errorMessage } from '../../core/errors.js';
import { databaseErrorDetail, describeErrorDetail } from '../../engines/error-detail.js';
import type { Registry } from '../../registry/registry.js';
import { recordOutcomeNow } from '../../registry/runs-repo.js';
import { now, type TenantWithServer } from '../../registry/tenants-repo.js';
import type { TenantProject } from '../../tenant-schema/tenant-project.js';
import { UserConsole } from '../../tenant-schema/user-console.js';
import { isRegistryOutage } from '../migrations/registry-retry.js';
import type { RunStop } from '../migrations/run-stop.js';
import { isOutage, outageMessage } from '../shared/fleet-servers.js';
import { freshTenant } from '../shared/fresh-tenant.js';
import { withCutoff } from '../shared/tenant-deadline.js';
import { withTenantKnex } from '../shared/tenant-database.js';
import { ifTenantFree, type TenantLockPool } from '../shared/tenant-lock-pool.js';
import { tenantLogin } from '../shared/tenant-login.js';
import { execSettled, type ExecFleetOptions, type ExecSettled } from './exec-types.js';
import type { ExecWork } from './exec-work.js';

/** What every tenant of one exec run is worked on with. */
export interface TenantExec {
  ctx: Context;
  registry: Registry;
  project: TenantProject;
  work: ExecWork;
  options: ExecFleetOptions;
  locks: TenantLockPool;
  stop: RunStop;
  /** The recorded run; null in a dry run. */
  runId: number | null;
  /** Several tenants at once: what a script prints is prefixed with its slug. */
  several: boolean;
}

/** Thrown inside a dry run's transaction so that it rolls back; never escapes. */
class DryRunRollback extends Error {}

/**
 * One tenant, holding its lock (held elsewhere: `busy`), where the registry says it lives now, as
 * its own user, in one transaction: committed, or rolled back on a failure and in a dry run.
 * Never throws but for a registry that answers wrongly.
 */
export function execTenant(run: TenantExec, tenant: TenantWithServer): Promise<ExecSettled> {
  const { ctx, options } = run;
  return ifTenantFree<ExecSettled>(
    run.locks,
    tenant.slug,
    async () => {
      const fresh = await freshTenant(ctx, tenant, options);
      if ('outcome' in fresh) return execSettled(fresh.outcome, fresh.reason);
      const userConsole = new UserConsole(run.several ? tenant.slug : undefined);
      const settled = await userConsole.run(() => execOne(run, fresh.now));
      const log = userConsole.log();
      return {
        ...settled,
        worked: fresh.now,
        ...(fresh.movedFrom ? { movedFrom: fresh.movedFrom } : {}),
        ...(log ? { log } : {}),
      };
    },
    (holder) => execSettled('busy', holder),
  ).catch((error: unknown): ExecSettled => {
    if (!isRegistryOutage(run.registry, error)) throw error;
    return execSettled('failed', `registry: ${errorMessage(error)}`);
  });
}

async function execOne(run: TenantExec, tenant: TenantWithServer): Promise<ExecSettled> {
  const { ctx, options, stop, work } = run;
  const started = Date.now();
  const took = (settled: ExecSettled): ExecSettled => ({ ...settled, durationMs: Date.now() - started });
  let server: ServerHandle | undefined;
  let recordId: number | undefined;
  try {
    server = await ctx.server(tenant.server_id);
    const connection = server.connection;
    const driver = connection.driver;
    // MySQL commits DDL on its own: such a file is not one transaction there.
    const atomic = driver.transactionalDdl || !work.ddl;
    // A dry run is a rolled-back transaction: DDL MySQL would commit on its own is not tried at all.
    if (options.dryRun && !atomic)
      return took({
        ...execSettled(
          'skipped',
          `dry run not tried: ${driver.engine} commits DDL (CREATE, ALTER, DROP, RENAME, TRUNCATE) on its own, so it could not be rolled back`,
        ),
        atomic,
      });
    const handle = server;
    return await withCutoff<ExecSettled>(
      {
        ms: options.tenantTimeoutMs,
        lost: connection.lost,
        timedOut: () =>
          took({
            ...execSettled(
              'failed',
              `timed out after ${formatDuration(options.tenantTimeoutMs!)} (--tenant-timeout): stopped, its transaction rolled back`,
            ),
            timedOut: true,
          }),
        serverLost: (reason) =>
          took(execSettled('unreachable', outageMessage(tenant, ctx.lostServers().get(tenant.server_id) ?? reason))),
        cut: {
          signal: stop.cutSignal,
          settle: () =>
            took({ ...execSettled('failed', `cut: ${stop.reason()}; its transaction was stopped`), cut: true }),
        },
      },
      (opened) =>
        withTenantKnex(
          connection,
          tenantLogin(ctx, handle, tenant),
          async (knex: Knex): Promise<ExecSettled> => {
            opened(knex);
            const info = {
              slug: tenant.slug,
              plan: tenant.plan ?? null,
              status: tenant.status,
              server: tenant.server_name,
              database: tenant.database_name,
              dryRun: Boolean(options.dryRun),
            };
            let done: Awaited<ReturnType<ExecWork['run']>> | undefined;
            try {
              await knex.transaction(async (trx) => {
                done = await work.run(trx, driver, info);
                if (options.dryRun) throw new DryRunRollback();
                // Marked before the commit: killed before it, the tenant rolled back and the mark
                // says so to no one (resume runs it again only if no mark); killed after the mark,
                // resume never runs it twice, and names it in doubt.
                recordId = await markCommitting(run, tenant);
              });
            } catch (error) {
              if (!(error instanceof DryRunRollback)) throw error;
            }
            return took({ outcome: 'executed', ...done, atomic, durationMs: 0, ...(recordId ? { recordId } : {}) });
          },
          run.project.knex.factory,
          { lockTimeoutMs: options.lockTimeoutMs },
        ),
    );
  } catch (error) {
    // A failed commit after the mark: the mark is replaced by the failure.
    const failed = took(await failureOf(run, tenant, server, error));
    return recordId ? { ...failed, recordId } : failed;
  }
}

/** The tenant's `committing` mark in the run's outcomes, stored at once; none in a dry run. */
async function markCommitting(run: TenantExec, tenant: TenantWithServer): Promise<number | undefined> {
  if (run.runId === null) return undefined;
  return recordOutcomeNow(run.registry.knex, {
    run_id: run.runId,
    tenant_id: tenant.id,
    slug: tenant.slug,
    outcome: 'committing',
    detail: null,
    error: null,
    duration_ms: 0,
    finished_at: now(),
  });
}

/** What the work failing on a tenant with `error` is. */
async function failureOf(
  run: TenantExec,
  tenant: TenantWithServer,
  server: ServerHandle | undefined,
  error: unknown,
): Promise<ExecSettled> {
  const driver = server?.connection.driver;
  if (driver?.isLockTimeoutError(error)) {
    const waited = run.options.lockTimeoutMs === undefined ? '' : ` after ${formatDuration(run.options.lockTimeoutMs)}`;
    return { ...execSettled('failed', `lock timeout${waited}: ${errorMessage(error)}`), lockTimeout: true };
  }
  const lost = await run.ctx.unansweredServer(tenant.server_id);
  if (lost || isOutage(error)) return execSettled('unreachable', outageMessage(tenant, lost ?? error));
  const partial =
    driver && !driver.transactionalDdl && run.work.ddl
      ? ` [${driver.engine} cannot roll back DDL: statements before the failing one may be applied]`
      : '';
  const detail = databaseErrorDetail(error);
  return execSettled('failed', `${errorMessage(error)}${describeErrorDetail(detail)}${partial}`);
}
