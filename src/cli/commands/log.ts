import type { Command } from 'commander';
import { withCommandContext } from '../action.js';
import { parseInteger } from '../options.js';

export function registerLog(program: Command): void {
  program
    .command('log')
    .description('the audit log, newest first: who changed which tenant, when, and how it ended')
    .argument('[slug]', 'one tenant only')
    .option('--limit <n>', 'at most this many entries (default 50)')
    .action(async (slug: string | undefined, flags: { limit?: string }, command: Command) => {
      const limit = parseInteger(flags.limit, '--limit') ?? 50;
      const { readAuditLog } = await import('../../lifecycle/registry/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const entries = await readAuditLog(ctx, slug, limit);
        out.result(entries, () =>
          entries.length === 0
            ? out.color.dim('No entries.')
            : out.table(
                ['when', 'command', 'tenant', 'outcome', 'who', 'arguments', 'error'],
                entries.map((e) => [
                  e.at.slice(0, 19).replace('T', ' '),
                  e.command,
                  e.tenant,
                  e.outcome === 'failed'
                    ? out.color.red(e.outcome)
                    : e.outcome === 'noop' || e.outcome === 'dry-run'
                      ? out.color.dim(e.outcome)
                      : out.color.green(e.outcome),
                  `${e.user}@${e.host}`,
                  e.arguments.join(' '),
                  e.error,
                ]),
              ),
        );
      });
    });
}
