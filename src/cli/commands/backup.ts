import type { Command } from 'commander';
import { ExitCode, UsageError } from '../../core/errors.js';
import type { TenantStatus } from '../../registry/tenants-repo.js';
import { withCommandContext } from '../action.js';
import { interruptible } from '../interrupts.js';
import { addTenantFilters, parseInteger, PER_SERVER_HELP } from '../options.js';
import { progressLine } from '../render/fleet-progress.js';
import { renderOutages } from '../render/outages.js';
import { formatBytes } from '../../core/format-bytes.js';
import type { ErasureResult } from '../../lifecycle/backups/index.js';
import type { Output } from '../output.js';

interface BackupFlags {
  all?: boolean;
  status?: TenantStatus[];
  plan?: string[];
  server?: string[];
  registry?: boolean;
  keep?: string;
  keepDays?: string;
}

export function registerBackup(program: Command): void {
  const backup = addTenantFilters(
    program
      .command('backup')
      .description('dump tenant databases (pg_dump / mysqldump / SQLite online backup), verified and recorded')
      .argument('[slugs...]', 'tenants to back up')
      .option('--all', 'every tenant whose database exists (filters apply)'),
    { scope: 'with --all: ', tenants: false },
  )
    .option('--concurrency <n>', 'tenants dumped at once (default 4)')
    .option('--per-server <n>', PER_SERVER_HELP)
    .option('--registry', 'also back up the registry database itself')
    .option('--keep <n>', 'then keep only the newest N good backups of each tenant backed up')
    .option('--keep-days <days>', 'then remove good backups older than D days (the newest good one always stays)')
    .action(async (slugs: string[], flags: BackupFlags, command: Command) => {
      if (!flags.all && slugs.length === 0 && !flags.registry)
        throw new UsageError('backup: name tenants, or use --all (or --registry)');
      if (flags.all && slugs.length) throw new UsageError('backup: name tenants or use --all, not both');
      const policy = {
        keep: parseInteger(flags.keep, '--keep'),
        keepDays: parseInteger(flags.keepDays, '--keep-days'),
      };
      const { runBackups } = await import('../../lifecycle/backups/index.js');

      await withCommandContext(command, async (ctx, out) => {
        const spinner = out.spinner('Backing up…');
        const selection =
          flags.all || slugs.length
            ? { slugs: flags.all ? undefined : slugs, statuses: flags.status, plans: flags.plan, servers: flags.server }
            : undefined;
        const result = await interruptible(
          (message) => out.warn(message),
          (interrupt) =>
            runBackups(
              ctx,
              { selection, registry: flags.registry, policy, concurrency: ctx.config.concurrency, interrupt },
              (p) => {
                spinner.text = progressLine(p, { what: 'tenants backed up' });
              },
            ),
        ).finally(() => spinner.stop());
        const { ok, tenants, registry, pruned } = result;
        out.result(result, () => {
          const lines: string[] = [];
          if (tenants?.total) {
            lines.push(
              out.table(
                ['tenant', 'outcome', 'file', 'size', 'time'],
                tenants.tenants
                  .filter((t) => t.outcome !== 'unreachable')
                  .map((t) => [
                    t.slug,
                    t.outcome === 'ok'
                      ? out.color.green('ok')
                      : ['busy', 'skipped', 'moved'].includes(t.outcome)
                        ? out.color.yellow(t.outcome)
                        : out.color.red(t.outcome),
                    t.backup
                      ? `${t.backup.file}${t.movedFrom ? ` (moved from ${t.movedFrom} meanwhile)` : ''}`
                      : (t.error ?? ''),
                    t.backup ? formatBytes(t.backup.bytes ?? 0) : null,
                    t.backup ? `${((t.backup.durationMs ?? 0) / 1000).toFixed(1)}s` : null,
                  ]),
              ),
            );
          }
          for (const t of tenants?.tenants ?? [])
            if (t.backup?.warning) lines.push(out.color.yellow(`⚠ ${t.slug}: ${t.backup.warning}`));
          if (tenants) lines.push(...renderOutages(out, tenants.unreachableServers, 'not backed up'));
          if (tenants) {
            const others = [
              tenants.failed ? out.color.red(`${tenants.failed} failed`) : '',
              tenants.busy ? out.color.yellow(`${tenants.busy} busy`) : '',
              tenants.moved ? out.color.yellow(`${tenants.moved} moved away`) : '',
              tenants.skipped ? out.color.yellow(`${tenants.skipped} skipped`) : '',
            ].filter(Boolean);
            lines.push(
              `${tenants.ok ? out.color.green('✔') : out.color.red('✖')} ${tenants.succeeded} of ${tenants.total} tenants backed up (${formatBytes(tenants.bytes)}) in ${(tenants.durationMs / 1000).toFixed(1)}s${others.length ? `, ${others.join(', ')}` : ''}`,
            );
          }
          if (result.interrupted)
            lines.push(
              out.color.yellow(
                `Interrupted (${result.interrupted}): tenants not started are skipped; no registry backup, nothing pruned`,
              ),
            );
          if (registry)
            lines.push(
              `${registry.status === 'ok' ? out.color.green('✔') : out.color.red('✖')} registry: ${registry.error ?? `${registry.file} ${formatBytes(registry.bytes ?? 0)}`}`,
            );
          if (pruned.removed.length) lines.push(`Pruned ${pruned.removed.length} old backups`);
          lines.push(...renderErased(out, result.erased));
          return lines.join('\n');
        });
        return { exitCode: result.interrupted ? ExitCode.interrupted : ok ? ExitCode.ok : ExitCode.failed };
      });
    });

  backup
    .command('decrypt')
    .description('decrypt an encrypted backup with the registry key alone (no registry needed)')
    .requiredOption('--from <file>', 'the encrypted backup: a file or s3://bucket/key')
    .requiredOption('--out <file>', 'where the plain dump goes (a new file)')
    .option('--key-file <file>', 'the registry key it was taken under (default: the configured key)')
    .action(async (flags: { from: string; out: string; keyFile?: string }, command: Command) => {
      const { decryptBackup } = await import('../../lifecycle/backups/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const result = await decryptBackup(ctx, flags);
        out.result(
          result,
          () =>
            `${out.color.green('✔')} ${result.out}: ${formatBytes(result.bytes)}, sha256 ${result.sha256} (key ${result.keyFingerprint})`,
        );
      });
    });

  backup
    .command('verify')
    .description('re-read backups: checksum, completeness; --restore-test restores each into a scratch database')
    .argument('[slugs...]', 'tenants whose latest backup to verify (default: every tenant)')
    .option('--all-backups', 'verify every recorded backup, not only the latest of each tenant')
    .option('--restore-test', "restore into a scratch database and compare every table's row count with the tenant's")
    .option('--concurrency <n>', 'backups verified at once (default 4)')
    .option('--per-server <n>', PER_SERVER_HELP)
    .action(async (slugs: string[], flags: { allBackups?: boolean; restoreTest?: boolean }, command: Command) => {
      const { verifyBackups } = await import('../../lifecycle/backups/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const spinner = out.spinner('Verifying…');
        const result = await interruptible(
          (message) => out.warn(message),
          (interrupt) =>
            verifyBackups(ctx, { slugs, allBackups: flags.allBackups, restoreTest: flags.restoreTest, interrupt }),
          'backups',
        ).finally(() => spinner.stop());
        out.result(result, () =>
          [
            out.table(
              ['tenant', 'backup', 'result', 'detail'],
              result.backups.map((b) => [
                b.slug,
                b.file,
                b.ok ? out.color.green('ok') : b.skipped ? out.color.yellow('skipped') : out.color.red('failed'),
                b.problem ?? b.detail ?? '',
              ]),
            ),
            `${result.ok ? out.color.green('✔') : out.color.red('✖')} ${result.backups.filter((b) => b.ok).length} of ${result.backups.length} backups verified`,
            ...(result.interrupted
              ? [out.color.yellow(`Interrupted (${result.interrupted}): backups not started are skipped`)]
              : []),
          ].join('\n'),
        );
        return { exitCode: result.interrupted ? ExitCode.interrupted : result.ok ? ExitCode.ok : ExitCode.failed };
      });
    });
}

export function registerBackups(program: Command): void {
  const backups = program
    .command('backups')
    .description('list recorded backups, newest first')
    .argument('[slug]', 'one tenant only')
    .option('--limit <n>', 'at most this many (default 50)')
    .action(async (slug: string | undefined, flags: { limit?: string }, command: Command) => {
      const { listBackups } = await import('../../lifecycle/backups/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const backups = await listBackups(ctx, slug, parseInteger(flags.limit, '--limit') ?? 50);
        out.result(backups, () =>
          backups.length === 0
            ? out.color.dim('No backups.')
            : out.table(
                ['id', 'tenant', 'status', 'taken', 'age', 'size', 'migration', 'file'],
                backups.map((b) => [
                  b.id,
                  b.slug,
                  b.status === 'ok'
                    ? out.color.green('ok')
                    : b.status === 'failed'
                      ? out.color.red('failed')
                      : b.status === 'interrupted'
                        ? out.color.yellow(b.status)
                        : b.status,
                  b.startedAt.slice(0, 19).replace('T', ' '),
                  age(b.startedAt),
                  b.bytes === null ? null : formatBytes(b.bytes),
                  b.migration,
                  b.status === 'failed' || b.status === 'interrupted' ? b.error : b.file,
                ]),
              ),
        );
      });
    });
  registerPrune(backups);
}

/** `backups prune`: retention without a backup run; `--deleted` erases what deleted tenants kept past policy. */
function registerPrune(backups: Command): void {
  backups
    .command('prune')
    .description(
      "apply retention to every tenant's backups; --deleted erases deleted tenants' past deletedRetentionDays",
    )
    .option('--keep <n>', 'keep only the newest N good backups of each tenant')
    .option('--keep-days <days>', 'remove good backups older than D days (the newest good one always stays)')
    .option('--deleted', 'erase the backups of tenants deleted more than deletedRetentionDays ago')
    .action(async (flags: { keep?: string; keepDays?: string; deleted?: boolean }, command: Command) => {
      const policy = {
        keep: parseInteger(flags.keep, '--keep'),
        keepDays: parseInteger(flags.keepDays, '--keep-days'),
      };
      const { pruneFleetBackups } = await import('../../lifecycle/backups/index.js');
      await withCommandContext(
        command,
        async (ctx, out) => {
          const result = await pruneFleetBackups(ctx, { policy, deleted: flags.deleted });
          out.result(result, () => [renderPruned(result.pruned), ...renderErased(out, result.erased)].join('\n'));
          const failed = result.erased?.tenants.some((t) => t.failed);
          return {
            exitCode: failed ? ExitCode.failed : ExitCode.ok,
            detail: { pruned: result.pruned.removed.length, erased: erasedDetail(result.erased) },
          };
        },
        { command: 'backups prune', tenant: null },
      );
    });
}

function renderPruned(pruned: { removed: unknown[]; failedRecordsRemoved: number }): string {
  return `Pruned ${pruned.removed.length} old backups, ${pruned.failedRecordsRemoved} failed records`;
}

/** One line per deleted tenant whose backups were erased (past deletedRetentionDays, or on request). */
function renderErased(out: Output, erased: ErasureResult | undefined): string[] {
  return (erased?.tenants ?? []).map((t) =>
    t.failed
      ? out.color.red(`✖ ${t.slug}: ${t.failed.length} backup files could not be erased: ${t.failed[0]!.error}`)
      : `Erased ${t.files.length} backups of ${t.slug} (deleted ${t.deletedAt.slice(0, 10)})`,
  );
}

/** What the audit entry of the command keeps of an erasure (each tenant's own entry has the files). */
function erasedDetail(erased: ErasureResult | undefined): Array<{ slug: string; files: number }> | undefined {
  return erased?.tenants.map((t) => ({ slug: t.slug, files: t.files.length }));
}

function age(iso: string): string {
  const minutes = Math.floor((Date.now() - Date.parse(iso)) / 60_000);
  if (minutes < 60) return `${minutes}m`;
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)}h`;
  return `${Math.floor(minutes / 1440)}d`;
}
