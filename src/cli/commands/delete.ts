import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { withCommandContext } from '../action.js';

const LABELS = {
  backup: 'Taking a final backup',
  connections: 'Ending open connections',
  database: 'Dropping the database',
  user: 'Dropping the database user',
  erase_backups: 'Erasing its backups',
  purge: 'Removing the registry record',
} as const;

interface DeleteFlags {
  yes?: boolean;
  backup: boolean;
  purge?: boolean;
  purgeBackups?: boolean;
  dryRun?: boolean;
}

export function registerDelete(program: Command): void {
  program
    .command('delete')
    .description('delete a tenant: final backup, then its database and user; the record stays for history')
    .argument('<slug>', 'the tenant slug')
    .option('-y, --yes', 'do not ask for confirmation (required without a terminal)')
    .option('--no-backup', 'skip the final backup (explicitly)')
    .option('--purge', 'remove the registry record as well')
    .option(
      '--purge-backups',
      'erase every backup of the tenant now (an erasure request) instead of keeping them deletedRetentionDays; no final backup',
    )
    .option('--dry-run', 'show what would be done; do nothing')
    .action(async (slug: string, flags: DeleteFlags, command: Command) => {
      const { deleteTenant } = await import('../../lifecycle/tenants/index.js');
      await withCommandContext(
        command,
        async (ctx, out) => {
          if (!flags.dryRun && !flags.yes) await confirm(slug, out.json, Boolean(flags.purgeBackups));
          const progress = out.steps();
          const result = await progress.track(
            deleteTenant(
              ctx,
              slug,
              { backup: flags.backup, purge: flags.purge, purgeBackups: flags.purgeBackups, dryRun: flags.dryRun },
              (step) => progress.step(`${LABELS[step]}…`),
            ),
          );
          out.result(result, () => {
            if (result.dryRun)
              return [
                `Would delete tenant ${out.color.bold(slug)}:`,
                ...result.steps.map((s) => `  - ${LABELS[s].toLowerCase()}`),
              ].join('\n');
            const erased = result.erasedBackups
              ? [
                  `  backups erased: ${result.erasedBackups.files.length} files, ${result.erasedBackups.records} records`,
                ]
              : [];
            if (result.alreadyDeleted)
              return [
                `${out.color.dim('•')} Tenant ${slug} was already deleted${result.purged ? '; its record is now removed' : ''}`,
                ...erased,
              ].join('\n');
            return [
              `${out.color.green('✔')} Deleted tenant ${out.color.bold(slug)}${result.resumed ? ' (finished an interrupted delete)' : ''}`,
              result.backup
                ? `  final backup: ${result.backup.file}`
                : result.erasedBackups
                  ? undefined
                  : `  ${out.color.yellow('no final backup')}`,
              ...erased,
              result.purged ? '  registry record removed' : '  registry record kept (status deleted)',
            ]
              .filter((line) => line !== undefined)
              .join('\n');
          });
          return {
            outcome: result.dryRun
              ? 'dry-run'
              : result.alreadyDeleted && !result.purged && !result.erasedBackups?.records
                ? 'noop'
                : 'ok',
            detail: {
              steps: result.steps,
              backup: result.backup?.file ?? null,
              dryRun: result.dryRun,
              ...(result.erasedBackups ? { erasedBackups: result.erasedBackups.files } : {}),
            },
          };
        },
        { command: 'delete', tenant: slug },
      );
    });
}

/** At a terminal, the operator types the slug; without one, only --yes will do. */
async function confirm(slug: string, json: boolean, eraseBackups: boolean): Promise<void> {
  if (!process.stdin.isTTY || !process.stderr.isTTY || json) {
    throw new UsageError(`refusing to delete "${slug}" without confirmation: no terminal to ask at; pass --yes`);
  }
  const { input } = await import('@inquirer/prompts');
  const answer = await input(
    {
      message: `This drops the database of tenant "${slug}"${eraseBackups ? ' and erases every backup of it' : ''}. Type the slug to confirm:`,
    },
    { output: process.stderr },
  );
  if (answer.trim() !== slug) throw new UsageError('not confirmed: nothing was deleted');
}
