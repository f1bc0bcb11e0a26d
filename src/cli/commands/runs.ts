import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import type { RunDetail, RunSummary } from '../../lifecycle/migrations/index.js';
import { withCommandContext } from '../action.js';
import { integerArgument } from '../options.js';
import type { Output } from '../output.js';

const whole = integerArgument();

export function registerRuns(program: Command): void {
  const runs = program
    .command('runs')
    .description(
      'recent fleet runs (migrate-all, rollback --all, exec, seed), newest first: who, when, waves, counts, status',
    )
    .option('--limit <n>', 'at most this many runs (default 20)', whole)
    .option('--kind <kind>', 'only migrate, rollback, exec or seed runs')
    .action(async (flags: { limit?: number; kind?: string }, command: Command) => {
      if (flags.kind !== undefined && !['migrate', 'rollback', 'exec', 'seed'].includes(flags.kind))
        throw new UsageError('--kind: expected migrate, rollback, exec or seed');
      const { listRuns } = await import('../../lifecycle/migrations/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const list = await listRuns(ctx, {
          limit: flags.limit ?? 20,
          kind: flags.kind as 'migrate' | 'rollback' | 'exec' | 'seed' | undefined,
        });
        out.result(list, () =>
          list.length === 0
            ? out.color.dim('No runs yet.')
            : out.table(
                ['run', 'kind', 'who', 'started', 'waves', 'tenants', 'ok', 'failed', 'skipped', 'status'],
                list.map((r) => [
                  `#${r.id}`,
                  r.kind,
                  who(r),
                  when(r.startedAt),
                  r.waves,
                  r.total,
                  r.succeeded,
                  r.failed,
                  r.skipped,
                  status(out, r),
                ]),
              ),
        );
      });
    });

  runs
    .command('show')
    .description('one run by wave and outcome, with errors')
    .argument('<id>', 'the run id (from `tenantctl runs`)', whole)
    .action(async (id: number, _flags: unknown, command: Command) => {
      const { showRun } = await import('../../lifecycle/migrations/index.js');
      await withCommandContext(command, async (ctx, out) => {
        const run = await showRun(ctx, id);
        out.result(run, () => renderRun(out, run));
      });
    });
}

function renderRun(out: Output, run: RunDetail): string {
  const lines = [
    out.fields([
      ['run', `#${run.id} (${run.kind})`],
      ['status', status(out, run)],
      ['started', `${when(run.startedAt)} by ${who(run)}`],
      ['finished', run.finishedAt ? when(run.finishedAt) : '-'],
      ['tenants', `${run.total}: ${run.succeeded} ok, ${run.failed} failed, ${run.skipped} skipped`],
      ['waves', String(run.waves)],
      ...(run.resumedFrom !== null ? ([['resumes', `#${run.resumedFrom}`]] as Array<[string, string]>) : []),
    ]),
  ];
  for (const wave of run.byWave) {
    const counts = Object.entries(wave.counts)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ');
    lines.push('', out.color.bold(`${wave.wave === null ? 'Tenants' : `Wave ${wave.wave}`}: ${counts}`));
    const notable = wave.tenants.filter((t) => t.outcome !== 'up_to_date');
    if (notable.length) {
      lines.push(
        out.table(
          ['tenant', 'outcome', 'migrations', 'seconds', 'error'],
          notable.map((t) => [t.slug, t.outcome, t.migrations.join(', '), (t.durationMs / 1000).toFixed(1), t.error]),
        ),
      );
    }
  }
  return lines.join('\n');
}

const who = (r: RunSummary) => `${r.startedBy ?? '?'}@${r.host}`;
const when = (at: string) => at.slice(0, 19).replace('T', ' ');

function status(out: Output, r: RunSummary): string {
  const text = r.reason ? `${r.status}: ${r.reason}` : r.status;
  if (r.status === 'succeeded') return out.color.green(text);
  if (r.status === 'running') return out.color.cyan(text);
  return r.status === 'failed' ? out.color.red(text) : out.color.yellow(text);
}
