import type { Command } from 'commander';
import { ExitCode, UsageError } from '../../core/errors.js';
import { formatBytes } from '../../core/format-bytes.js';
import { withCommandContext } from '../action.js';

/** The word the operator types to confirm a registry restore. */
const CONFIRM_WORD = 'restore';

/** `tenantctl registry backup`, `tenantctl registry restore --from <file>`: the registry database's own backups. */
export function registerRegistry(program: Command): void {
  const registry = program.command('registry').description("the registry database's own backup and restore");

  registry
    .command('backup')
    .description('back up the registry database (as backup --registry), recorded as _registry')
    .action(async (_flags: object, command: Command) => {
      const { runBackups } = await import('../../lifecycle/backups/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const result = await runBackups(ctx, { registry: true, policy: {}, concurrency: ctx.config.concurrency });
        const backup = result.registry!;
        out.result(backup, () =>
          backup.status === 'ok'
            ? `${out.color.green('✔')} registry: ${backup.file} ${formatBytes(backup.bytes ?? 0)}`
            : `${out.color.red('✖')} registry: ${backup.error}`,
        );
        return { exitCode: backup.status === 'ok' ? ExitCode.ok : ExitCode.failed };
      });
    });

  registry
    .command('restore')
    .description('replace the registry database with a backup of it (refused while another tenantctl holds a lock)')
    .requiredOption(
      '--from <file|key>',
      'the registry backup (registry backup / backup --registry): a file or s3://bucket/key',
    )
    .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
    .action(async (flags: { from: string; yes?: boolean }, command: Command) => {
      const { restoreRegistry } = await import('../../lifecycle/registry/index.js');
      await withCommandContext(
        command,
        async (ctx, out) => {
          if (!flags.yes) await confirm(ctx.config.registryUrl, out.json);
          const result = await restoreRegistry(ctx, flags.from);
          out.result(result, () =>
            [
              `${out.color.green('✔')} Restored the registry (${result.registry}) from ${result.file}: ${result.tenants} tenants`,
              out.color.dim('Tenants created or deleted since that backup: check with tenantctl doctor'),
            ].join('\n'),
          );
          return { detail: { file: result.file, tenants: result.tenants } };
        },
        { command: 'registry restore', tenant: null },
      );
    });
}

/** At a terminal, the operator types the word; without one, only --yes will do. */
async function confirm(registryUrl: string, json: boolean): Promise<void> {
  if (!process.stdin.isTTY || !process.stderr.isTTY || json)
    throw new UsageError('refusing to replace the registry without confirmation: no terminal to ask at; pass --yes');
  const { input } = await import('@inquirer/prompts');
  const { maskUrlPasswords } = await import('../../core/url-passwords.js');
  const answer = await input(
    {
      message: `This replaces the registry ${maskUrlPasswords(registryUrl)} with the backup: what it recorded since is lost. Type "${CONFIRM_WORD}" to confirm:`,
    },
    { output: process.stderr },
  );
  if (answer.trim() !== CONFIRM_WORD) throw new UsageError('not confirmed: the registry was not restored');
}
