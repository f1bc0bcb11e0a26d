import type { Command } from 'commander';
import { ExitCode, UsageError } from '../../core/errors.js';
import type { TenantStatus } from '../../registry/tenants-repo.js';
import { withCommandContext } from '../action.js';
import { addTenantFilters, PER_SERVER_HELP } from '../options.js';
import { progressLine } from '../render/fleet-progress.js';

interface SchemaDiffFlags {
  all?: boolean;
  tenants?: string[];
  status?: TenantStatus[];
  plan?: string[];
  server?: string[];
  reference?: string;
  sql?: boolean;
  cache?: boolean;
}

export function registerSchema(program: Command): void {
  const schema = program.command('schema').description("the tenants' database structure");
  addTenantFilters(
    schema
      .command('diff')
      .description(
        "read every selected tenant's structure as the tenant, group the fleet into variants, and show how each differs from the expected one",
      )
      .argument('[slugs...]', 'only these tenants')
      .option('--all', 'every tenant (active and suspended; the default)')
      .option(
        '--reference <slug>',
        "this tenant's structure is the expected one (default: a fresh tenant's, built in a scratch database)",
      )
      .option(
        '--sql',
        'print, per variant, the statements that would bring it to the expected structure (simple, safe ones; the rest by hand)',
      )
      .option(
        '--no-cache',
        "read every tenant's structure in full, even where its catalog is unchanged since the last read, and build a fresh tenant's again",
      ),
  )
    .option('--concurrency <n>', 'tenants read at once (default 4, or TENANTCTL_CONCURRENCY)')
    .option('--per-server <n>', PER_SERVER_HELP)
    .action(async (slugs: string[], flags: SchemaDiffFlags, command: Command) => {
      const named = [...new Set([...slugs, ...(flags.tenants ?? [])])];
      if (flags.all && named.length) throw new UsageError('schema diff: name tenants or use --all, not both');
      const { schemaDiff } = await import('../../lifecycle/schema/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const spinner = out.spinner('Reading structures…');
        const result = await schemaDiff(
          ctx,
          {
            slugs: named.length ? named : undefined,
            statuses: flags.status,
            plans: flags.plan,
            servers: flags.server,
            reference: flags.reference,
            concurrency: ctx.config.concurrency,
            cache: flags.cache,
          },
          (p) => {
            spinner.text = progressLine(p, { timed: true });
          },
        ).finally(() => spinner.stop());
        const { renderSchemaDiff } = await import('../render/schema-diff.js');
        out.result(result, () => renderSchemaDiff(out, result, Boolean(flags.sql)));
        return { exitCode: result.ok ? ExitCode.ok : ExitCode.failed };
      });
    });
}
