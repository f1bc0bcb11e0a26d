import { ExitCode, UnreachableError } from '../../core/errors.js';
import type { Command } from 'commander';
import type { TenantStatus } from '../../registry/tenants-repo.js';
import { withCommandContext } from '../action.js';
import { renderOutages } from '../render/outages.js';
import { addTenantFilters, PER_SERVER_HELP } from '../options.js';

const MAX_ROWS = 25;

export function registerMigrateStatus(program: Command): void {
  addTenantFilters(
    program
      .command('migrate-status')
      .description('applied and pending migrations per tenant, and a fleet summary')
      .argument('[slug]', 'one tenant only'),
  )
    .option('--concurrency <n>', 'PostgreSQL databases read at once (default 4)')
    .option('--per-server <n>', PER_SERVER_HELP)
    .option('--all', 'list every tenant, not only those that need attention')
    .action(
      async (
        slug: string | undefined,
        flags: { tenants?: string[]; status?: TenantStatus[]; plan?: string[]; server?: string[]; all?: boolean },
        command: Command,
      ) => {
        const { migrationStatus } = await import('../../lifecycle/migrations/index.js');
        await withCommandContext(command, async (ctx, out) => {
          const result = await migrationStatus(
            ctx,
            { slugs: slug ? [slug] : flags.tenants, statuses: flags.status, plans: flags.plan, servers: flags.server },
            ctx.config.concurrency,
          );
          // One named tenant whose server is down: one line on stderr and exit 5, as for every one-tenant command.
          if (slug && result.unreachableServers.length) throw new UnreachableError(result.unreachableServers[0]!.error);
          out.result(result, () => {
            const s = result.summary;
            const attention = result.tenants.filter(
              (t) =>
                t.reachable &&
                (flags.all || slug || t.pending.length || t.unknown.length || t.lastRun?.outcome === 'failed'),
            );
            const shown = flags.all || slug ? attention : attention.slice(0, MAX_ROWS);
            const lines: string[] = [];
            if (shown.length) {
              lines.push(
                out.table(
                  ['tenant', 'status', 'applied', 'latest', 'pending', 'last run'],
                  shown.map((t) => [
                    t.slug,
                    out.status(t.status),
                    t.applied ?? 'none',
                    t.latest,
                    t.pending.length
                      ? `${t.pending.length}: ${t.pending.join(', ')}`
                      : t.unknown.length
                        ? out.color.red(`unknown: ${t.unknown.join(', ')}`)
                        : '0',
                    t.lastRun
                      ? `${t.lastRun.outcome === 'failed' ? out.color.red('failed') : t.lastRun.outcome} (run #${t.lastRun.runId}, ${t.lastRun.at.slice(0, 19).replace('T', ' ')})`
                      : null,
                  ]),
                ),
              );
              if (attention.length > shown.length)
                lines.push(out.color.dim(`… and ${attention.length - shown.length} more (--all, or --json)`));
            }
            for (const t of result.tenants.filter((x) => x.error)) lines.push(out.color.red(`✖ ${t.error}`));
            lines.push(...renderOutages(out, result.unreachableServers, 'unknown'));
            lines.push(
              `${s.total} tenants · ${s.upToDate} up to date · ${s.withPending} with pending migrations · ${s.failedLastRun} failed last run${s.unknown ? ` · ${out.color.red(`${s.unknown} unknown (server unreachable)`)}` : ''}${s.tampered ? ` · ${out.color.red(`${s.tampered} with a tampered migration table`)}` : ''}`,
            );
            lines.push(
              `${result.available.length} migrations available${result.available.length ? `, latest ${result.available.at(-1)}` : ''}`,
            );
            for (const group of s.byLatest)
              lines.push(`  ${String(group.tenants).padStart(6)} at ${group.migration ?? '(none applied)'}`);
            return lines.join('\n');
          });
          // Answered from part of the fleet only: incomplete (one named tenant: unreachable, exit 5);
          // a tampered migration table is a problem to look at.
          if (result.unreachableServers.length || result.summary.tampered) return { exitCode: ExitCode.failed };
        });
      },
    );
}
