import type { Command } from 'commander';
import { ExitCode, UsageError } from '../../core/errors.js';
import type { TenantStatus } from '../../registry/tenants-repo.js';
import { withCommandContext } from '../action.js';
import { interruptible } from '../interrupts.js';
import { addTenantFilters, PER_SERVER_HELP } from '../options.js';
import { progressLine } from '../render/fleet-progress.js';

interface SetupFlags {
  all?: boolean;
  tenants?: string[];
  status?: TenantStatus[];
  plan?: string[];
  server?: string[];
}

export function registerSetup(program: Command): void {
  addTenantFilters(
    program
      .command('setup')
      .description("run the adminSetup again on tenants' databases, as the server's admin (idempotent by contract)")
      .argument('[slugs...]', 'tenants to set up')
      .option('--all', 'every tenant whose database exists (filters apply)'),
    { scope: 'with --all: ' },
  )
    .option('--concurrency <n>', 'tenants worked on at once (default 4)')
    .option('--per-server <n>', PER_SERVER_HELP)
    .action(async (slugs: string[], flags: SetupFlags, command: Command) => {
      if (!flags.all && slugs.length === 0) throw new UsageError('setup: name tenants, or use --all');
      if (flags.all && slugs.length) throw new UsageError('setup: name tenants or use --all, not both');
      const { setupTenants } = await import('../../lifecycle/tenants/index.js');
      const { recordAudit } = await import('../../lifecycle/registry/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const spinner = out.spinner('Running the admin setup…');
        const selection = {
          slugs: flags.all ? flags.tenants : slugs,
          statuses: flags.status,
          plans: flags.plan,
          servers: flags.server,
        };
        const result = await interruptible(
          (message) => out.warn(message),
          (interrupt) =>
            setupTenants(ctx, { ...selection, concurrency: ctx.config.concurrency, interrupt }, (p) => {
              spinner.text = progressLine(p);
            }),
        ).finally(() => spinner.stop());
        // One audit entry per tenant it ran on (or failed to).
        for (const t of result.tenants.filter((o) => o.outcome !== 'skipped')) {
          await recordAudit(ctx, {
            command: 'setup',
            arguments: process.argv.slice(2),
            tenant: t.slug,
            outcome: t.outcome === 'done' ? 'ok' : 'failed',
            error: t.error,
            detail: { adminSetup: result.adminSetup },
          });
        }
        out.result(result, () => {
          const c = result.counts;
          const paint = (o: string) =>
            o === 'failed' ? out.color.red(o) : o === 'done' ? out.color.green(o) : out.color.yellow(o);
          return [
            out.table(
              ['tenant', 'server', 'outcome', 'detail'],
              result.tenants.map((t) => [t.slug, t.server, paint(t.outcome), t.error ?? t.reason ?? '']),
            ),
            `${result.ok ? out.color.green('✔') : out.color.red('✖')} ${result.adminSetup}: ${c.done} done, ${c.skipped} skipped, ${c.busy ? out.color.yellow(`${c.busy} busy, `) : ''}${c.failed ? out.color.red(`${c.failed} failed`) : '0 failed'} in ${(result.durationMs / 1000).toFixed(1)}s`,
            ...(result.interrupted
              ? [out.color.yellow(`Interrupted (${result.interrupted}): tenants not started are skipped`)]
              : []),
          ].join('\n');
        });
        return { exitCode: result.interrupted ? ExitCode.interrupted : result.ok ? ExitCode.ok : ExitCode.failed };
      });
    });
}
