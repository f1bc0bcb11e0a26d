import { InvalidArgumentError, type Command } from 'commander';
import { parseDuration } from '../../core/duration.js';
import { errorMessage, ExitCode, UsageError } from '../../core/errors.js';
import { assertNamedTenantReached } from '../../core/fleet-run.js';
import type { MigrateFleetOptions } from '../../lifecycle/migrations/index.js';
import type { TenantStatus } from '../../registry/tenants-repo.js';
import { withCommandContext } from '../action.js';
import { interruptible } from '../interrupts.js';
import { addTenantFilters, integerArgument, PER_SERVER_HELP } from '../options.js';
import { progressLine } from '../render/fleet-progress.js';
import { renderFleetResult } from '../render/fleet-result.js';

interface FleetFlags {
  tenants?: string[];
  status?: TenantStatus[];
  plan?: string[];
  server?: string[];
  dryRun?: boolean;
  failFast?: boolean;
  retryFailed?: boolean;
  wait?: number | true;
  all?: boolean;
  canary?: string;
  waves?: string;
  pause?: number;
  maxFailures?: string;
  lockTimeout?: number;
  lockRetries?: number;
  tenantTimeout?: number;
  resume?: number;
  backupFirst?: boolean;
}

/** `--backup-first`, on the commands that migrate up. */
function addBackupFirst(command: Command): Command {
  return command.option(
    '--backup-first',
    'back up each tenant with migrations pending right before they run; a failed backup fails the tenant unmigrated',
  );
}

/** `--wait` alone waits up to an hour; `--wait 120` up to two minutes. */
const DEFAULT_WAIT_SECONDS = 3600;

const parseSeconds = integerArgument('expected a number of seconds');

/** A commander parser for a duration flag: `5s`, `2m`, `500ms`, `1h`. */
export const durationFlag = (flag: string) => (value: string) => {
  try {
    return parseDuration(value, flag);
  } catch (error) {
    throw new InvalidArgumentError(errorMessage(error).replace(`${flag}: `, ''));
  }
};

const countFlag = integerArgument();

/** Staged rollouts: canary, waves, failure budget, timeouts and resume (see README "Staged rollouts"). */
export function addRolloutOptions(command: Command): Command {
  return command
    .option(
      '--canary <selection>',
      'these tenants first: a count, slugs (a,b), plan=x, label=key=value or server=name; if one fails, no other starts',
    )
    .option(
      '--waves <sizes>',
      "run in waves of cumulative sizes, e.g. 1,10%,100% (default: the config file's waves, else one batch)",
    )
    .option('--pause <duration>', 'bake time between waves, e.g. 10m', durationFlag('--pause'))
    .option(
      '--max-failures <n|p%>',
      'failure budget: once this many tenants failed, no new tenant starts and the run halts',
    )
    .option(
      '--lock-retries <n>',
      'retry a tenant whose migration hit the lock timeout up to n times, later in the run',
      countFlag,
    )
    .option('--resume <run>', 'continue an interrupted or halted run with the tenants it did not finish', countFlag);
}

function addFleetOptions(command: Command): Command {
  return addTenantFilters(command)
    .option('--concurrency <n>', 'tenants worked on at once (default 4, or TENANTCTL_CONCURRENCY)')
    .option('--per-server <n>', PER_SERVER_HELP);
}

function addRunOptions(command: Command): Command {
  return command
    .option('--dry-run', 'show what would run; change nothing, take no lock')
    .option(
      '--wait [seconds]',
      `wait for a running migration to finish (default ${DEFAULT_WAIT_SECONDS}s) instead of exiting 6`,
      parseSeconds,
    )
    .option(
      '--lock-timeout <duration>',
      'a migration waiting longer for a lock fails for that tenant (default 5s, config lockTimeout)',
      durationFlag('--lock-timeout'),
    )
    .option(
      '--tenant-timeout <duration>',
      'stop a tenant taking longer and report it failed (timed out)',
      durationFlag('--tenant-timeout'),
    );
}

async function run(
  command: Command,
  direction: 'up' | 'down',
  flags: FleetFlags,
  slugs: string[] | undefined,
  name: string,
): Promise<void> {
  const { migrateFleet } = await import('../../lifecycle/migrations/index.js');
  await withCommandContext(
    command,
    async (ctx, out) => {
      const options: MigrateFleetOptions = {
        direction,
        concurrency: ctx.config.concurrency,
        slugs: slugs ?? flags.tenants,
        statuses: flags.status,
        plans: flags.plan,
        servers: flags.server,
        dryRun: flags.dryRun,
        failFast: flags.failFast,
        retryFailed: flags.retryFailed,
        waitMs: flags.wait === undefined ? 0 : (flags.wait === true ? DEFAULT_WAIT_SECONDS : flags.wait) * 1000,
        lockTimeoutMs: flags.lockTimeout ?? parseDuration(ctx.config.lockTimeout, 'lockTimeout'),
        tenantTimeoutMs: flags.tenantTimeout,
        backupFirst: flags.backupFirst,
        ...rolloutOptions(flags, slugs ? undefined : ctx.config.waves),
      };
      const spinner = out.spinner(direction === 'up' ? 'Migrating…' : 'Rolling back…');
      const result = await interruptible(
        (message) => out.warn(message),
        (interrupt) =>
          migrateFleet(ctx, { ...options, interrupt }, (p) => {
            spinner.text = progressLine(p, { timed: true });
          }),
      ).finally(() => spinner.stop());
      // One named tenant whose server is down: one line on stderr and exit 5, as for every one-tenant command.
      assertNamedTenantReached(result, slugs?.length === 1);
      out.result(result, () => renderFleetResult(out, result));
      // A lost registry is the registry unreachable (5); a signal is 130; else whether every tenant made it.
      const exitCode = result.registryLost
        ? ExitCode.unreachable
        : result.interrupted
          ? ExitCode.interrupted
          : result.ok
            ? ExitCode.ok
            : ExitCode.failed;
      return {
        ...(result.dryRun ? { outcome: 'dry-run' as const } : {}),
        detail: { runId: result.runId, counts: result.counts, dryRun: result.dryRun },
        exitCode,
      };
    },
    { command: name, tenant: slugs?.length === 1 ? slugs[0] : null },
  );
}

/** The staged-rollout part of the options; config waves apply when `--waves` is not given. */
function rolloutOptions(flags: FleetFlags, configWaves: MigrateFleetOptions['waves']): Partial<MigrateFleetOptions> {
  if (flags.resume !== undefined && (flags.canary ?? flags.waves ?? flags.maxFailures) !== undefined) {
    throw new UsageError("--resume keeps the run's own canary, waves and failure budget: give none of them");
  }
  if (flags.pause !== undefined && flags.waves === undefined && flags.canary === undefined && !configWaves)
    throw new UsageError('--pause needs --canary or --waves');
  return {
    canary: flags.canary,
    waves: flags.waves ?? (flags.resume === undefined ? configWaves : undefined),
    pauseMs: flags.pause,
    maxFailures: flags.maxFailures,
    lockRetries: flags.lockRetries,
    resume: flags.resume,
  };
}

export function registerMigrate(program: Command): void {
  addBackupFirst(
    addRunOptions(
      program
        .command('migrate')
        .description("bring one tenant's database to the latest migration")
        .argument('<slug>', 'the tenant slug'),
    ),
  ).action(async (slug: string, flags: FleetFlags, command: Command) => run(command, 'up', flags, [slug], 'migrate'));

  addBackupFirst(
    addRolloutOptions(
      addRunOptions(
        addFleetOptions(
          program
            .command('migrate-all')
            .description('migrate every tenant whose database exists (active and suspended), concurrently')
            .option('--fail-fast', 'stop starting tenants after the first failure')
            .option('--retry-failed', 'only the tenants that failed in the last migrate run'),
        ),
      ),
    ),
  ).action(async (flags: FleetFlags, command: Command) => run(command, 'up', flags, undefined, 'migrate-all'));

  addRolloutOptions(
    addRunOptions(
      addFleetOptions(
        program
          .command('rollback')
          .description('roll back the last batch of migrations of one tenant, or of every tenant with --all')
          .argument('[slug]', 'the tenant slug')
          .option('--all', 'every tenant (filters apply)')
          .option('--fail-fast', 'stop starting tenants after the first failure'),
      ),
    ),
  ).action(async (slug: string | undefined, flags: FleetFlags, command: Command) => {
    if (!slug && !flags.all) throw new UsageError('rollback: name a tenant, or use --all');
    if (slug && flags.all) throw new UsageError('rollback: name a tenant or use --all, not both');
    if (slug && (flags.canary ?? flags.waves ?? flags.maxFailures ?? flags.resume) !== undefined)
      throw new UsageError('rollback: --canary, --waves, --max-failures and --resume go with --all');
    await run(command, 'down', flags, slug ? [slug] : undefined, 'rollback');
  });
}
