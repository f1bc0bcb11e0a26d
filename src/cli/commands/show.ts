import type { Command } from 'commander';
import { withCommandContext } from '../action.js';

export function registerShow(program: Command): void {
  program
    .command('show')
    .description("show a tenant's record (never its password)")
    .argument('<slug>', 'the tenant slug')
    .option('--show-password', "include the tenant database user's password")
    .action(async (slug: string, options: { showPassword?: boolean }, command: Command) => {
      const { showTenant } = await import('../../lifecycle/tenants/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const tenant = await showTenant(ctx, slug, { revealPassword: options.showPassword });
        out.result(tenant, () =>
          [
            out.color.bold(tenant.slug),
            out.fields(
              [
                ['name', tenant.name],
                ['status', out.status(tenant.status) + (tenant.statusReason ? ` (${tenant.statusReason})` : '')],
                ['status since', tenant.statusChangedAt],
                ['step', tenant.step],
                ['server', `${tenant.server} (${tenant.serverUrl})`],
                ['engine', tenant.engine],
                ['database', tenant.database + shortenedNote(tenant.shortenedFrom?.database)],
                ['user', (tenant.user ?? '(server credentials)') + shortenedNote(tenant.shortenedFrom?.user)],
                ['password', tenant.password],
                ['plan', tenant.plan],
                ['metadata', tenant.metadata],
                ['last error', tenant.lastError],
                ['created', tenant.createdAt],
                ['updated', tenant.updatedAt],
              ].filter(([, v]) => v !== null && v !== undefined) as Array<[string, unknown]>,
            ),
          ].join('\n'),
        );
      });
    });
}

/** Says that a name is its template's, shortened to the engine's limit with a hash suffix. */
function shortenedNote(full: string | undefined): string {
  return full ? ` (shortened with a hash suffix from ${full}, longer than the engine allows)` : '';
}
