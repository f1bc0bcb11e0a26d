import type { Command } from 'commander';
import { ExitCode, UsageError } from '../../core/errors.js';
import type { TenantStatus } from '../../registry/tenants-repo.js';
import { withCommandContext } from '../action.js';
import { interruptible } from '../interrupts.js';
import { addTenantFilters, PER_SERVER_HELP } from '../options.js';
import { progressLine } from '../render/fleet-progress.js';

interface RotatePasswordFlags {
  all?: boolean;
  tenants?: string[];
  status?: TenantStatus[];
  plan?: string[];
  server?: string[];
  endSessions?: boolean;
}

export function registerRotatePassword(program: Command): void {
  addTenantFilters(
    program
      .command('rotate-password')
      .description("give tenants' database users new generated passwords, on the server and in the registry")
      .argument('[slugs...]', 'tenants whose password to rotate')
      .option('--all', 'every tenant whose database exists (filters apply)'),
    { scope: 'with --all: ' },
  )
    .option('--concurrency <n>', 'tenants worked on at once (default 4)')
    .option('--per-server <n>', PER_SERVER_HELP)
    .option('--end-sessions', "also end the users' open sessions (default: they stay)")
    .action(async (slugs: string[], flags: RotatePasswordFlags, command: Command) => {
      if (!flags.all && slugs.length === 0) throw new UsageError('rotate-password: name tenants, or use --all');
      if (flags.all && slugs.length) throw new UsageError('rotate-password: name tenants or use --all, not both');
      const { rotatePasswords } = await import('../../lifecycle/secrets/index.js');
      const { recordAudit } = await import('../../lifecycle/registry/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const spinner = out.spinner('Rotating passwords…');
        const selection = {
          slugs: flags.all ? flags.tenants : slugs,
          statuses: flags.status,
          plans: flags.plan,
          servers: flags.server,
        };
        const result = await interruptible(
          (message) => out.warn(message),
          (interrupt) =>
            rotatePasswords(
              ctx,
              { ...selection, concurrency: ctx.config.concurrency, endSessions: flags.endSessions, interrupt },
              (p) => {
                spinner.text = progressLine(p);
              },
            ),
        ).finally(() => spinner.stop());
        // One audit entry per tenant whose password changed or failed to (never the password).
        for (const t of result.tenants.filter((o) => o.outcome !== 'skipped')) {
          await recordAudit(ctx, {
            command: 'rotate-password',
            arguments: process.argv.slice(2),
            tenant: t.slug,
            outcome: t.outcome === 'rotated' ? 'ok' : 'failed',
            error: t.error,
            detail: { endSessions: Boolean(flags.endSessions), finishedInterrupted: Boolean(t.finished) },
          });
        }
        out.result(result, () => {
          const c = result.counts;
          const paint = (o: string) =>
            o === 'failed' ? out.color.red(o) : o === 'rotated' ? out.color.green(o) : out.color.yellow(o);
          return [
            out.table(
              ['tenant', 'server', 'outcome', 'detail'],
              result.tenants.map((t) => [
                t.slug,
                t.server,
                paint(t.outcome),
                t.error ??
                  t.reason ??
                  (t.finished
                    ? 'finished an interrupted rotation'
                    : flags.endSessions
                      ? 'sessions ended'
                      : 'open sessions kept'),
              ]),
            ),
            `${result.ok ? out.color.green('✔') : out.color.red('✖')} ${c.rotated} rotated, ${c.skipped} skipped, ${c.busy ? out.color.yellow(`${c.busy} busy, `) : ''}${c.failed ? out.color.red(`${c.failed} failed`) : '0 failed'} in ${(result.durationMs / 1000).toFixed(1)}s`,
            ...(result.interrupted
              ? [out.color.yellow(`Interrupted (${result.interrupted}): tenants not started are skipped`)]
              : []),
          ].join('\n');
        });
        return { exitCode: result.interrupted ? ExitCode.interrupted : result.ok ? ExitCode.ok : ExitCode.failed };
      });
    });
}
