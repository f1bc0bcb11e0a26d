import type { Command } from 'commander';
import { ExitCode, UsageError } from '../../core/errors.js';
import { withCommandContext } from '../action.js';
import { addTenantFilters } from '../options.js';
import { seedValueLines, shownSeedValues } from '../render/seed-values.js';
import type { TenantStatus } from '../../registry/tenants-repo.js';

interface SeedFlags {
  all?: boolean;
  file?: string;
  showSecrets?: boolean;
  status?: TenantStatus[];
  plan?: string[];
  server?: string[];
}

export function registerSeed(program: Command): void {
  addTenantFilters(
    program
      .command('seed')
      .description("run the seeds (or one) on existing tenants, as their own user; a run with each tenant's outcome")
      .argument('[slugs...]', 'tenants to seed')
      .option('--all', 'every active tenant (filters apply)')
      .option('--file <seed>', 'only this seed file of the seeds directory (its name)')
      .option('--show-secrets', 'show what the seeds returned (masked by default)'),
    { scope: 'with --all: ', tenants: false },
  )
    .option('--concurrency <n>', 'tenants seeded at once (default 4)')
    .action(async (slugs: string[], flags: SeedFlags, command: Command) => {
      if (!flags.all && slugs.length === 0) throw new UsageError('seed: name tenants, or use --all');
      if (flags.all && slugs.length) throw new UsageError('seed: name tenants or use --all, not both');
      const { seedTenants } = await import('../../lifecycle/seeds/index.js');
      await withCommandContext(
        command,
        async (ctx, out) => {
          const spinner = out.spinner('Seeding…');
          const result = await seedTenants(ctx, {
            ...(slugs.length ? { slugs } : {}),
            ...(flags.status ? { statuses: flags.status } : {}),
            ...(flags.plan ? { plans: flags.plan } : {}),
            ...(flags.server ? { servers: flags.server } : {}),
            ...(flags.file ? { file: flags.file } : {}),
          }).finally(() => spinner.stop());
          const shown = {
            ...result,
            tenants: result.tenants.map((t) => ({
              ...t,
              returned: shownSeedValues(t.returned, Boolean(flags.showSecrets)),
            })),
          };
          out.result(shown, () =>
            [
              shown.tenants.length
                ? out.table(
                    ['tenant', 'outcome', 'seeds', 'returned', 'error'],
                    shown.tenants.map((t) => [
                      t.slug,
                      t.outcome === 'seeded' ? out.color.green(t.outcome) : out.color.red(t.outcome),
                      t.seeds.join(', '),
                      seedValueLines(t.returned).join('\n') || null,
                      t.error ?? null,
                    ]),
                  )
                : 'No tenants to seed.',
              `${result.ok ? out.color.green('✔') : out.color.red('✖')} run ${result.runId}: ${result.counts.seeded} seeded, ${result.counts.failed} failed${result.counts.busy ? `, ${result.counts.busy} busy` : ''}${result.counts.unreachable ? `, ${result.counts.unreachable} unreachable` : ''}`,
            ].join('\n'),
          );
          return {
            // The files and counts only: what seeds returned may be secret.
            detail: { runId: result.runId, seeds: result.seeds, counts: result.counts },
            exitCode: result.ok ? ExitCode.ok : ExitCode.failed,
          };
        },
        { command: 'seed', tenant: slugs.length === 1 ? slugs[0] : null },
      );
    });
}
