import type { Command } from 'commander';
import type { AccessChangeResult } from '../../lifecycle/tenants/index.js';
import { withCommandContext } from '../action.js';
import { tenantDocument } from '../render/json-document.js';
import type { Output } from '../output.js';

function render(out: Output, result: AccessChangeResult): string {
  const mark = result.changed ? out.color.green('✔') : out.color.dim('•');
  const warning = result.enforced
    ? ''
    : `\n${out.color.yellow('!')} not enforced by the database: the tenant has no user of its own`;
  return `${mark} ${result.message[0]!.toUpperCase()}${result.message.slice(1)} (status ${out.status(result.tenant.status)})${warning}`;
}

export function registerSuspend(program: Command): void {
  program
    .command('suspend')
    .description("take a tenant's access away, in the database itself; its data is untouched")
    .argument('<slug>', 'the tenant slug')
    .option('--reason <text>', 'why (recorded with the tenant and in the audit log)')
    .action(async (slug: string, flags: { reason?: string }, command: Command) => {
      const { suspendTenant } = await import('../../lifecycle/tenants/index.js');
      await withCommandContext(
        command,
        async (ctx, out) => {
          const result = await suspendTenant(ctx, slug, flags.reason ?? 'no reason given');
          out.result(tenantDocument(result), () => render(out, result));
          return { outcome: result.changed ? 'ok' : 'noop' };
        },
        { command: 'suspend', tenant: slug },
      );
    });

  program
    .command('reactivate')
    .description('give a suspended tenant its access back')
    .argument('<slug>', 'the tenant slug')
    .action(async (slug: string, _flags: unknown, command: Command) => {
      const { reactivateTenant } = await import('../../lifecycle/tenants/index.js');
      await withCommandContext(
        command,
        async (ctx, out) => {
          const result = await reactivateTenant(ctx, slug);
          out.result(tenantDocument(result), () => render(out, result));
          return { outcome: result.changed ? 'ok' : 'noop' };
        },
        { command: 'reactivate', tenant: slug },
      );
    });
}
