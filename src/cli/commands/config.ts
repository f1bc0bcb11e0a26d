import type { Command } from 'commander';
import { maskedConfig } from '../../config/resolve-config.js';
import { configFor, outputFor } from '../action.js';

export function registerConfig(program: Command): void {
  program
    .command('config')
    .description('show the effective configuration and where each value came from (secrets masked)')
    .action(async (_options: unknown, command: Command) => {
      const out = await outputFor(command);
      const resolved = configFor(command);
      const entries = maskedConfig(resolved);
      out.result({ file: resolved.file ?? null, values: entries }, () =>
        [
          `config file: ${resolved.file ?? out.color.dim('(none)')}`,
          out.table(
            ['key', 'value', 'source', 'environment variable'],
            entries.map((e) => [e.key, e.value, e.source, e.env]),
          ),
        ].join('\n'),
      );
    });
}
