import { Option, type Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { withCommandContext } from '../action.js';
import { tenantDocument } from '../render/json-document.js';
import { collectKeyJson, collectKeyValue, collectList, mergedMetadata } from '../options.js';

export function registerUpdate(program: Command): void {
  program
    .command('update')
    .description("change a tenant's display name, plan or metadata (its database is not touched)")
    .argument('<slug>', 'the tenant slug')
    .option('--name <name>', 'new display name')
    .option('--plan <plan>', 'new plan')
    .option('--set <key=value>', 'set a metadata entry; repeatable', collectKeyValue)
    .option(
      '--set-json <key=json>',
      'set a metadata entry to a JSON value (number, boolean, list, object); repeatable',
      collectKeyJson,
    )
    .option('--unset <key>', 'remove a metadata entry; repeatable', collectList)
    .addOption(new Option('--database <name>').hideHelp())
    .addOption(new Option('--server <name>').hideHelp())
    .action(
      async (
        slug: string,
        flags: {
          name?: string;
          plan?: string;
          set?: Record<string, string>;
          setJson?: Record<string, unknown>;
          unset?: string[];
          database?: string;
          server?: string;
        },
        command: Command,
      ) => {
        // Repointing a row at another database would leave the data behind: that is move's job.
        if (flags.database !== undefined || flags.server !== undefined)
          throw new UsageError(
            `update: a tenant's ${flags.database !== undefined ? 'database' : 'server'} is not changed by update; to put ${slug} on another server use: tenantctl move ${slug} --to <server>`,
          );
        const set = mergedMetadata(flags.set, flags.setJson);
        const { updateTenant } = await import('../../lifecycle/tenants/index.js');
        await withCommandContext(
          command,
          async (ctx, out) => {
            const result = await updateTenant(ctx, slug, {
              ...(flags.name !== undefined ? { name: flags.name } : {}),
              ...(flags.plan !== undefined ? { plan: flags.plan } : {}),
              ...(set ? { set } : {}),
              ...(flags.unset ? { unset: flags.unset } : {}),
            });
            out.result(tenantDocument(result), () =>
              result.changed.length
                ? `${out.color.green('✔')} Updated ${result.changed.join(', ')} of tenant ${slug}\n${out.fields([
                    ['name', result.tenant.name],
                    ['plan', result.tenant.plan],
                    ['metadata', result.tenant.metadata],
                  ])}`
                : `${out.color.dim('•')} Nothing changed: tenant ${slug} already has these values`,
            );
            return { outcome: result.changed.length ? 'ok' : 'noop', detail: { changed: result.changed } };
          },
          { command: 'update', tenant: slug },
        );
      },
    );
}
