import type { Command } from 'commander';
import { ExitCode, UsageError } from '../../core/errors.js';
import type { MovePlan } from '../../lifecycle/moves/index.js';
import type { MoveResult } from '../../lifecycle/moves/index.js';
import { withCommandContext } from '../action.js';
import { interruptible } from '../interrupts.js';
import { progressLine } from '../render/fleet-progress.js';
import type { Output } from '../output.js';
import { formatBytes } from '../../core/format-bytes.js';

const LABELS = {
  preflight: 'Checking both servers',
  schema: 'Copying the schema to the target',
  snapshot: 'Copying a consistent snapshot (schema and rows) to the target',
  replicate: 'Starting replication from the source to the target',
  catchup: 'Copying rows while the tenant works, then catching up',
  compare: "Comparing both copies' content while the tenant works",
  drain: 'Applying the last changes and the sequences',
  unreplicate: 'Removing the replication from both servers',
  fence: 'Fencing the tenant on the source',
  copy: 'Copying (backup, then restore on the target)',
  verify: 'Verifying the copy',
  switch: 'Switching the registry to the target',
  unfence: 'Unfencing on the target',
  retire: 'Retiring the source',
  rollback: 'Rolling back',
} as const;

interface MoveFlags {
  to?: string;
  keepSource?: boolean;
  dropSource?: boolean;
  dryRun?: boolean;
  offline?: boolean;
  fromServer?: string;
  concurrency?: string;
}

const seconds = (ms: number | null) => (ms === null ? '?' : `${(ms / 1000).toFixed(1)}s`);

export function registerMove(program: Command): void {
  program
    .command('move')
    .description("move a tenant's database to another server of its engine: fenced, copied, verified, switched")
    .argument('[slug]', 'the tenant to move')
    .option('--to <server>', 'the target server (default: placement chooses, never the current one)')
    .option('--keep-source', 'keep the source database and user, locked, as a retired copy')
    .option('--drop-source', 'drop the retired copy an earlier move --keep-source left')
    .option('--dry-run', 'print the plan (source, target, size, expected downtime); change nothing')
    .option('--offline', 'fence for the whole dump and restore, even where the source could move online')
    .option('--from-server <name>', 'evacuate: move every tenant off this server')
    .option('--concurrency <n>', 'with --from-server: tenants moved at once (default 1)')
    .action(async (slug: string | undefined, flags: MoveFlags, command: Command) => {
      if (flags.fromServer ? slug || flags.to || flags.dropSource : !slug) {
        throw new UsageError(
          'move: name a tenant (move <slug> [--to <server>]), or evacuate a server with --from-server <name> alone',
        );
      }
      if (flags.dropSource && (flags.to || flags.keepSource || flags.dryRun))
        throw new UsageError('move --drop-source takes only the tenant');
      if (flags.fromServer) return evacuate(command, flags);
      if (flags.dropSource) return dropSource(command, slug!);
      const { moveTenant } = await import('../../lifecycle/moves/index.js');
      await withCommandContext(
        command,
        async (ctx, out) => {
          const progress = out.steps();
          const result = await progress.track(
            moveTenant(
              ctx,
              { slug: slug!, to: flags.to, keepSource: flags.keepSource, dryRun: flags.dryRun, offline: flags.offline },
              (step) => progress.step(`${LABELS[step]}…`),
            ),
          );
          out.result(result, () => (result.dryRun ? renderPlan(out, result) : renderMove(out, result)));
          return {
            ...(result.dryRun ? { outcome: 'dry-run' as const } : {}),
            detail: {
              source: result.source,
              target: result.target,
              dryRun: result.dryRun,
              downtimeMs: result.downtimeMs,
              steps: result.steps,
              resumed: result.resumed,
              sourceKept: result.sourceKept,
            },
          };
        },
        { command: 'move', tenant: slug },
      );
    });
}

function renderPlan(out: Output, result: MoveResult): string {
  const plan = result.plan!;
  return [
    `Would move tenant ${out.color.bold(result.slug)} from ${plan.source} to ${out.color.bold(plan.target)} (${plan.reason})`,
    out.fields([
      ['engine', plan.engine],
      ['mode', `${plan.mode} (${plan.modeReason})`],
      ['size', plan.sizeBytes === null ? 'unknown' : `${plan.sizeBytes} bytes`],
      [
        'expected downtime',
        plan.expectedDowntimeMs === null
          ? `unknown (${plan.estimate})`
          : `${seconds(plan.expectedDowntimeMs)} (${plan.estimate})`,
      ],
      ['target database', plan.targetDatabase],
      ['target user', plan.targetUser],
      ['dump space', dumpSpace(plan.dumpSpace)],
    ]),
    ...plan.problems.map((p) => out.color.red(`  ✖ ${p}`)),
  ].join('\n');
}

function dumpSpace({ directory, freeBytes, neededBytes, basis }: MovePlan['dumpSpace']): string {
  const free = freeBytes === null ? 'unknown space' : `${formatBytes(freeBytes)} free`;
  const needed = neededBytes === null ? 'an unknown size' : `about ${formatBytes(neededBytes)} (${basis})`;
  return `${free} in ${directory}; the dump needs ${needed}`;
}

function renderMove(out: Output, result: MoveResult): string {
  if (result.alreadyDone)
    return `${out.color.green('✔')} Tenant ${out.color.bold(result.slug)} is on ${out.color.bold(result.target)} already: moved there from ${result.source} (${result.placement})`;
  const note =
    result.resumed === 'finished'
      ? ' (finished an interrupted move)'
      : result.resumed === 'rolled_back'
        ? ' (rolled back an interrupted move, then moved afresh)'
        : '';
  return [
    `${out.color.green('✔')} Moved tenant ${out.color.bold(result.slug)} from ${result.source} to ${out.color.bold(result.target)}${note}: downtime ${seconds(result.downtimeMs)}, ${seconds(result.durationMs)} in all`,
    out.fields([
      ['mode', result.mode ?? 'unknown'],
      [
        'steps',
        Object.entries(result.steps)
          .map(([step, ms]) => `${step} ${seconds(ms)}`)
          .join(', '),
      ],
      ...(result.verified
        ? [
            [
              'verified',
              `${result.verified.tables} tables, ${result.verified.rows} rows, ${result.verified.sequences} sequences, ${result.verified.migrations} migrations identical` +
                (result.verified.content === 'live'
                  ? ` (content compared before the fence, writes paused ${result.verified.writesPausedMs ?? 0} ms; rows recounted in the fence in the ${result.verified.recounted ?? result.verified.tables} tables written since)`
                  : result.verified.liveSkipped
                    ? ` (content compared in the fence: ${result.verified.liveSkipped})`
                    : ''),
            ] as [string, string],
          ]
        : []),
      ...(result.backup ? [['backup', result.backup.file] as [string, string]] : []),
      ['status', out.status(result.tenant.status)],
      [
        'source',
        result.sourceKept ? `kept, locked (drop it with: tenantctl move --drop-source ${result.slug})` : 'dropped',
      ],
    ]),
  ].join('\n');
}

async function dropSource(command: Command, slug: string): Promise<void> {
  const { dropRetiredSource } = await import('../../lifecycle/moves/index.js');
  await withCommandContext(
    command,
    async (ctx, out) => {
      const result = await dropRetiredSource(ctx, slug);
      out.result(
        result,
        () =>
          `${out.color.green('✔')} Dropped the retired copy of ${out.color.bold(slug)} on server ${result.server} (database ${result.database}${result.user ? `, user ${result.user}` : ''})`,
      );
      return { detail: result };
    },
    { command: 'move --drop-source', tenant: slug },
  );
}

async function evacuate(command: Command, flags: MoveFlags): Promise<void> {
  const { evacuateServer } = await import('../../lifecycle/moves/index.js');
  await withCommandContext(
    command,
    async (ctx, out) => {
      const concurrency = flags.concurrency === undefined ? 1 : ctx.config.concurrency;
      const spinner = out.spinner(`Moving tenants off ${flags.fromServer}…`);
      const result = await interruptible(
        (message) => out.warn(message),
        (interrupt) =>
          evacuateServer(
            ctx,
            flags.fromServer!,
            { concurrency, keepSource: flags.keepSource, dryRun: flags.dryRun, offline: flags.offline, interrupt },
            (p) => {
              spinner.text = progressLine(p);
            },
          ),
      ).finally(() => spinner.stop());
      out.result(result, () =>
        [
          result.tenants.length
            ? out.table(
                ['tenant', 'outcome', 'target', 'downtime', 'error'],
                result.tenants.map((t) => [
                  t.slug,
                  t.outcome === 'failed'
                    ? out.color.red(t.outcome)
                    : t.outcome === 'skipped' || t.outcome === 'busy'
                      ? out.color.yellow(t.outcome)
                      : out.color.green(t.outcome),
                  t.target,
                  t.downtimeMs === null ? null : seconds(t.downtimeMs),
                  t.error ?? null,
                ]),
              )
            : `No tenants on server ${result.server}.`,
          `${result.ok ? out.color.green('✔') : out.color.red('✖')} ${result.dryRun ? 'Dry run' : 'Evacuated'} ${result.server}: ${result.total} tenants in ${seconds(result.durationMs)}: ${result.dryRun ? `${result.moved} planned` : `${result.moved} moved`}, ${result.failed ? out.color.red(`${result.failed} failed`) : '0 failed'}${result.skipped ? `, ${result.skipped} skipped` : ''}${result.busy ? `, ${result.busy} busy` : ''}`,
          ...(result.interrupted
            ? [out.color.yellow(`Interrupted (${result.interrupted}): tenants not started are skipped`)]
            : []),
        ].join('\n'),
      );
      const exitCode = result.interrupted ? ExitCode.interrupted : result.ok ? ExitCode.ok : ExitCode.failed;
      return {
        ...(result.dryRun ? { outcome: 'dry-run' as const } : {}),
        detail: {
          server: result.server,
          total: result.total,
          moved: result.moved,
          failed: result.failed,
          dryRun: result.dryRun,
        },
        exitCode,
      };
    },
    { command: 'move --from-server', tenant: null },
  );
}
