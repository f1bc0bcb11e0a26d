import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { withCommandContext } from '../action.js';
import { collectKeyValue } from '../options.js';

const LABELS = {
  verify: 'Checking the backup',
  suspend: 'Suspending the tenant',
  replace: 'Replacing the database',
  restore: 'Restoring',
  reactivate: 'Reactivating',
} as const;

export function registerRestore(program: Command): void {
  program
    .command('restore')
    .description("restore a tenant's database from a backup (checksum checked first)")
    .argument('<slug>', 'the tenant whose backup to restore')
    .option('--from <file>', 'this backup: a file or s3://bucket/key')
    .option('--latest', "the tenant's latest good backup (the default)")
    .option('--force', 'replace a database that has tables')
    .option('--as <new-slug>', 'restore into a new tenant instead: a clone with its own database and user')
    .option('--server <name>', 'with --as: put the copy on this registered server (default: placement chooses)')
    .option(
      '--server-label <key=value>',
      'with --as: choose only among servers with this label, repeatable',
      collectKeyValue,
    )
    .option(
      '--set <key=value>',
      "with --as: a metadata entry of the copy's, over the source's; repeatable",
      collectKeyValue,
    )
    .option('--name <name>', "with --as: the copy's display name (default: its slug)")
    .option(
      '--from-untrusted-file',
      "with --from: restore a file that is none of this registry's backups (its checksum is unknown)",
    )
    .action(
      async (
        slug: string,
        flags: {
          from?: string;
          latest?: boolean;
          force?: boolean;
          as?: string;
          fromUntrustedFile?: boolean;
          server?: string;
          serverLabel?: Record<string, string>;
          set?: Record<string, string>;
          name?: string;
        },
        command: Command,
      ) => {
        if (flags.as === undefined && (flags.server || flags.serverLabel || flags.set || flags.name !== undefined))
          throw new UsageError('restore: --server, --server-label, --set and --name go with --as (the copy)');
        if (flags.fromUntrustedFile && !flags.from)
          throw new UsageError('restore: --from-untrusted-file applies to a file named with --from');
        if (flags.from && flags.latest) throw new UsageError('restore: --from and --latest exclude each other');
        const { restoreTenant } = await import('../../lifecycle/backups/index.js');
        await withCommandContext(
          command,
          async (ctx, out) => {
            const progress = out.steps();
            const result = await progress.track(
              restoreTenant(
                ctx,
                {
                  slug,
                  from: flags.from,
                  force: flags.force,
                  as: flags.as,
                  untrustedFile: flags.fromUntrustedFile,
                  asServer: flags.server,
                  asServerLabels: flags.serverLabel,
                  asSet: flags.set,
                  asName: flags.name,
                },
                (step) => progress.step(`${LABELS[step]}…`),
              ),
            );
            out.result(result, () =>
              [
                `${out.color.green('✔')} Restored ${out.color.bold(result.tenant.slug)}${result.cloned ? ` (a clone of ${slug})` : ''} from ${result.backup.file} in ${(result.durationMs / 1000).toFixed(1)}s`,
                out.fields([
                  [
                    'backup taken',
                    result.backup.takenAt || "(a file none of this registry's backups, --from-untrusted-file)",
                  ],
                  ['server', result.tenant.server],
                  ['database', result.tenant.database],
                  ['status', out.status(result.tenant.status)],
                ]),
              ].join('\n'),
            );
            // An untrusted file is said so in the audit log, with its checksum.
            return {
              detail: {
                backup: result.backup.file,
                clone: result.cloned ? result.tenant.slug : null,
                ...(result.untrustedFile ? { untrustedFile: true, sha256: result.backup.sha256 } : {}),
              },
            };
          },
          { command: 'restore', tenant: flags.as ?? slug },
        );
      },
    );
}
