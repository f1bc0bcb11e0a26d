import type { Command } from 'commander';
import { ExitCode } from '../../core/errors.js';
import { withCommandContext } from '../action.js';

interface TemplateFlags {
  server?: string[];
  rebuild?: boolean;
  stale?: boolean;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerTemplate(program: Command): void {
  const template = program
    .command('template')
    .description('schema templates: each server\'s database migrated once, that create copies (README "Templates")');
  template
    .command('build')
    .description("build each server's template for the present migrations (a deploy step, after migrate-all)")
    .option('--server <name>', 'only this server, repeatable', collect)
    .option('--rebuild', 'build it again even when it is current')
    .action(async (flags: TemplateFlags, command: Command) => {
      const { buildTemplates } = await import('../../lifecycle/templates/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const outcomes = await buildTemplates(ctx, { servers: flags.server, rebuild: flags.rebuild });
        out.result(
          outcomes,
          () =>
            outcomes
              .map((o) =>
                o.outcome === 'failed'
                  ? `${out.color.red('✖')} ${o.server}: ${o.error}`
                  : `${out.color.green('✔')} ${o.server}: ${o.database} ${o.outcome === 'built' ? `built in ${((o.buildMs ?? 0) / 1000).toFixed(1)}s` : 'is current'}`,
              )
              .join('\n') || 'no servers',
        );
        return { exitCode: outcomes.some((o) => o.outcome === 'failed') ? ExitCode.failed : ExitCode.ok };
      });
    });
  template
    .command('list')
    .description('the templates of each server, and whether they are stale')
    .option('--server <name>', 'only this server, repeatable', collect)
    .action(async (flags: TemplateFlags, command: Command) => {
      const { listTemplates } = await import('../../lifecycle/templates/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const templates = await listTemplates(ctx, flags.server);
        out.result(templates, () =>
          templates.length
            ? templates
                .map(
                  (t) =>
                    `${t.server}  ${t.database}  ${t.state}  ${t.migrations} migrations  ${t.serverVersion}  ${t.stale === null ? 'server not reached' : t.stale ? 'stale' : 'current'}`,
                )
                .join('\n')
            : 'no templates',
        );
      });
    });
  template
    .command('drop')
    .description('drop the templates (create builds one again when it needs it)')
    .option('--server <name>', 'only this server, repeatable', collect)
    .option('--stale', 'only the stale ones')
    .action(async (flags: TemplateFlags, command: Command) => {
      const { dropTemplates } = await import('../../lifecycle/templates/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const dropped = await dropTemplates(ctx, { servers: flags.server, staleOnly: flags.stale });
        out.result({ dropped }, () => (dropped.length ? `Dropped ${dropped.join(', ')}` : 'nothing to drop'));
      });
    });
}
