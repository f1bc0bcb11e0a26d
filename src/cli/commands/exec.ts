import type { Command } from 'commander';
import { parseDuration } from '../../core/duration.js';
import { ExitCode, UsageError } from '../../core/errors.js';
import { assertNamedTenantReached } from '../../core/fleet-run.js';
import type { ExecFleetOptions } from '../../lifecycle/exec/index.js';
import type { TenantStatus } from '../../registry/tenants-repo.js';
import { withCommandContext } from '../action.js';
import { interruptible } from '../interrupts.js';
import { addTenantFilters, PER_SERVER_HELP } from '../options.js';
import { progressLine } from '../render/fleet-progress.js';
import { addRolloutOptions, durationFlag } from './migrate.js';

interface ExecFlags {
  all?: boolean;
  tenants?: string[];
  status?: TenantStatus[];
  plan?: string[];
  server?: string[];
  sqlFile?: string;
  script?: string;
  dryRun?: boolean;
  yes?: boolean;
  canary?: string;
  waves?: string;
  pause?: number;
  maxFailures?: string;
  lockTimeout?: number;
  lockRetries?: number;
  tenantTimeout?: number;
  resume?: number;
}

export function registerExec(program: Command): void {
  addRolloutOptions(
    addTenantFilters(
      program
        .command('exec')
        .description(
          'run a SQL file or a script on every selected tenant, as each tenant, one transaction each, as a recorded run',
        )
        .argument('[slugs...]', 'only these tenants')
        .option('--all', 'every tenant (active and suspended)')
        .option('--sql-file <file>', 'statements separated by ";", run in one transaction per tenant')
        .option('--script <module>', 'a module: export default async function (knex, tenant), given the transaction')
        .option('--dry-run', 'run it in a transaction that is rolled back: what it would change, nothing changed')
        .option('--yes', 'do not ask (required when stdin is not a terminal)')
        .option(
          '--lock-timeout <duration>',
          'a statement waiting longer for a lock fails for that tenant (default 5s, config lockTimeout)',
          durationFlag('--lock-timeout'),
        )
        .option(
          '--tenant-timeout <duration>',
          'stop a tenant taking longer, roll it back and report it failed (timed out)',
          durationFlag('--tenant-timeout'),
        ),
    )
      .option('--concurrency <n>', 'tenants worked on at once (default 4, or TENANTCTL_CONCURRENCY)')
      .option('--per-server <n>', PER_SERVER_HELP),
  ).action(async (slugs: string[], flags: ExecFlags, command: Command) => {
    const named = [...new Set([...slugs, ...(flags.tenants ?? [])])];
    if (flags.resume !== undefined) {
      if ((flags.canary ?? flags.waves ?? flags.maxFailures) !== undefined || named.length || flags.all)
        throw new UsageError(
          "--resume keeps the run's own tenants, canary, waves and failure budget: give none of them",
        );
    } else {
      if (Boolean(flags.sqlFile) === Boolean(flags.script))
        throw new UsageError('exec: give exactly one of --sql-file <file> or --script <module>');
      if (!flags.all && !named.length && !flags.status && !flags.plan && !flags.server)
        throw new UsageError('exec: name tenants, filter them (--plan, --server, --status), or pass --all');
    }
    if (flags.sqlFile && flags.script) throw new UsageError('exec: --sql-file or --script, not both');
    if (flags.pause !== undefined && flags.waves === undefined && flags.canary === undefined)
      throw new UsageError('--pause needs --canary or --waves');
    const json = Boolean(command.optsWithGlobals().json);
    // Without a terminal to ask at, only --yes will do: checked before anything is opened.
    if (!flags.yes && (!process.stdin.isTTY || !process.stderr.isTTY || json))
      throw new UsageError('exec changes every selected tenant: no terminal to ask at; pass --yes');
    const { execFleet, countExecTenants } = await import('../../lifecycle/exec/index.js');
    await withCommandContext(
      command,
      async (ctx, out) => {
        const options: ExecFleetOptions = {
          sqlFile: flags.sqlFile,
          script: flags.script,
          concurrency: ctx.config.concurrency,
          slugs: named.length ? named : undefined,
          statuses: flags.status,
          plans: flags.plan,
          servers: flags.server,
          dryRun: flags.dryRun,
          lockTimeoutMs: flags.lockTimeout ?? parseDuration(ctx.config.lockTimeout, 'lockTimeout'),
          tenantTimeoutMs: flags.tenantTimeout,
          canary: flags.canary,
          waves: flags.waves,
          pauseMs: flags.pause,
          maxFailures: flags.maxFailures,
          lockRetries: flags.lockRetries,
          resume: flags.resume,
        };
        if (!flags.yes) await confirm(await countExecTenants(ctx, options), options);
        const spinner = out.spinner(flags.dryRun ? 'Running (dry run)…' : 'Running…');
        const result = await interruptible(
          (message) => out.warn(message),
          (interrupt) =>
            execFleet(ctx, { ...options, interrupt }, (p) => {
              spinner.text = progressLine(p, { timed: true });
            }),
        ).finally(() => spinner.stop());
        assertNamedTenantReached(result, named.length === 1);
        const { renderExecResult } = await import('../render/exec-result.js');
        out.result(result, () => renderExecResult(out, result));
        const exitCode = result.registryLost
          ? ExitCode.unreachable
          : result.interrupted
            ? ExitCode.interrupted
            : result.ok
              ? ExitCode.ok
              : ExitCode.failed;
        // Audited with the file and its checksum: what ran where is known afterwards.
        return {
          detail: { runId: result.runId, dryRun: result.dryRun, work: result.work, counts: result.counts },
          exitCode,
        };
      },
      { command: 'exec', tenant: named.length === 1 ? named[0] : null },
    );
  });
}

/** At a terminal: how many tenants, and a yes to go on. */
async function confirm(count: number, options: ExecFleetOptions): Promise<void> {
  const { confirm: ask } = await import('@inquirer/prompts');
  const what = options.sqlFile ?? options.script ?? `the file of run #${options.resume}`;
  const yes = await ask(
    {
      message: `${options.dryRun ? 'Dry run: ' : ''}run ${what} on ${count} tenant${count === 1 ? '' : 's'}?`,
      default: false,
    },
    { output: process.stderr },
  );
  if (!yes) throw new UsageError('not confirmed: nothing was run');
}
