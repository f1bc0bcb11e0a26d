import type { Command } from 'commander';
import type { TenantStatus } from '../../registry/tenants-repo.js';
import { withCommandContext } from '../action.js';
import { collectList, collectStatuses } from '../options.js';

export function registerList(program: Command): void {
  program
    .command('list')
    .alias('ls')
    .description('list tenants')
    .option('--status <status>', 'only tenants with this status (comma-separated or repeated)', collectStatuses)
    .option('--plan <plan>', 'only tenants on this plan (comma-separated or repeated)', collectList)
    .action(async (options: { status?: TenantStatus[]; plan?: string[] }, command: Command) => {
      const { listTenants } = await import('../../lifecycle/tenants/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const tenants = await listTenants(ctx, { statuses: options.status, plans: options.plan });
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
