import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import type { ListSort } from '../../lifecycle/tenants/index.js';
import type { TenantStatus } from '../../registry/tenants-repo.js';
import { withCommandContext } from '../action.js';
import { collectList, collectStatuses, parseInteger } from '../options.js';

interface ListFlags {
  status?: TenantStatus[];
  plan?: string[];
  sort?: string;
  desc?: boolean;
  where?: string[];
  createdAfter?: string;
  limit?: string;
  offset?: string;
  format?: string;
}

const collectWhere = (value: string, previous: string[] = []) => [...previous, value];

export function registerList(program: Command): void {
  program
    .command('list')
    .alias('ls')
    .description('list tenants')
    .option('--status <status>', 'only tenants with this status (comma-separated or repeated)', collectStatuses)
    .option('--plan <plan>', 'only tenants on this plan (comma-separated or repeated)', collectList)
    .option('--where <meta.key=value>', 'only tenants whose metadata entry has this value; repeatable', collectWhere)
    .option('--created-after <time>', 'only tenants created at or after this date or time (ISO 8601)')
    .option('--sort <key>', 'slug (default), created, name, plan or size (size asks the servers)')
    .option('--desc', 'sort in descending order')
    .option('--limit <n>', 'at most this many tenants')
    .option('--offset <n>', 'skip this many tenants first (with --sort: a stable page)')
    .option('--format <format>', 'table (default), csv, or json (also --json)')
    .action(async (flags: ListFlags, command: Command) => {
      // The two modules list needs, not the tenants index (which loads every tenant operation).
      const [{ listTenants }, { queryTenantList, tenantsCsv, parseCreatedAfter, LIST_SORTS }] = await Promise.all([
        import('../../lifecycle/tenants/read-tenants.js'),
        import('../../lifecycle/tenants/tenant-list-query.js'),
      ]);
      // Every flag is checked before the registry is opened: bad input, exit 2.
      const sort = (flags.sort ?? 'slug') as ListSort;
      if (!LIST_SORTS.includes(sort))
        throw new UsageError(`--sort must be ${LIST_SORTS.join(', ')} (got "${flags.sort}")`);
      const json = Boolean(command.optsWithGlobals().json);
      const format = flags.format ?? (json ? 'json' : 'table');
      if (!['table', 'csv', 'json'].includes(format))
        throw new UsageError(`--format must be table, csv or json (got "${format}")`);
      if (json && format !== 'json') throw new UsageError(`--json and --format ${format}: pick one`);
      if (flags.createdAfter !== undefined) parseCreatedAfter(flags.createdAfter);
      const where: Record<string, string> = {};
      for (const condition of flags.where ?? []) {
        const match = /^meta\.([A-Za-z0-9_.-]{1,64})=(.*)$/s.exec(condition);
        if (!match) throw new UsageError(`--where expects meta.<key>=<value> (got "${condition}")`);
        where[match[1]!] = match[2]!;
      }
      const query = {
        sort,
        desc: Boolean(flags.desc),
        where,
        ...(flags.createdAfter !== undefined ? { createdAfter: flags.createdAfter } : {}),
        ...(flags.limit !== undefined ? { limit: parseInteger(flags.limit, '--limit') } : {}),
        ...(flags.offset !== undefined ? { offset: parseInteger(flags.offset, '--offset') } : {}),
      };
      await withCommandContext(command, async (ctx, out) => {
        const all = await listTenants(ctx, { statuses: flags.status, plans: flags.plan });
        const sizes = sort === 'size' ? await tenantSizes(ctx) : undefined;
        const tenants = queryTenantList(all, query, sizes);
        if (format === 'csv') {
          process.stdout.write(tenantsCsv(tenants));
          return;
        }
        if (format === 'json' && !json) {
          process.stdout.write(`${JSON.stringify(tenants, null, 2)}\n`);
          return;
        }
        out.result(tenants, () =>
          tenants.length === 0
            ? out.color.dim('No tenants.')
            : out.table(
                ['slug', 'name', 'status', 'server', 'database', 'plan', 'created'],
                tenants.map((t) => [
                  t.slug,
                  t.name,
                  out.status(t.status),
                  t.server,
                  t.database,
                  t.plan,
                  t.createdAt.slice(0, 19).replace('T', ' '),
                ]),
              ),
        );
      });
    });
}

/** Each tenant's database size, from the servers (as `stats` gathers it); unknown ones are left out. */
async function tenantSizes(ctx: import('../../context/context.js').Context): Promise<Map<string, number | null>> {
  const { tenantStats } = await import('../../lifecycle/tenants/tenant-stats.js');
  const stats = await tenantStats(ctx, {}, {});
  return new Map(stats.tenants.map((t) => [t.slug, t.sizeBytes]));
}
