import type { Command } from 'commander';
import { withCommandContext } from '../action.js';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('create or upgrade the registry schema (also done automatically on first use)')
    .action(async (_options: unknown, command: Command) => {
      const { initRegistry } = await import('../../lifecycle/registry/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const result = await initRegistry(ctx);
        out.result(result, () =>
          [
            `${out.color.green('✔')} Registry ready at ${result.registry}`,
            out.fields([
              ['schema', result.schemaVersion],
              ['secret key', result.secretKey],
            ]),
          ].join('\n'),
        );
      });
    });
}
