import type { MigrateFleetResult } from '../../lifecycle/migrations/index.js';
import type { Output } from '../output.js';
import { renderOutages } from './outages.js';
import { describeKnex } from './knex-used.js';

/** Rows shown per outcome before the table says "… and N more" (JSON always has every tenant). */
const MAX_ROWS = 25;

/** Names shown in one cell before "and N more" (--json has every one). */
const MAX_NAMES = 3;

/** `a, b, c and 27 more`: a cell stays readable however many migrations it names. */
export function summarised(names: readonly string[]): string {
  if (names.length <= MAX_NAMES) return names.join(', ');
  return `${names.slice(0, MAX_NAMES).join(', ')} and ${names.length - MAX_NAMES} more`;
}

/** A tenant's error, its list of missing migrations summarised. */
function errorCell(t: MigrateFleetResult['tenants'][number]): string | undefined {
  if (!t.error || !t.missingMigrations) return t.error;
  return t.error.replace(t.missingMigrations.join(', '), summarised(t.missingMigrations));
}

export function renderFleetResult(out: Output, result: MigrateFleetResult): string {
  const c = result.counts;
  const verb = result.kind === 'migrate' ? 'Migrated' : 'Rolled back';
  const lines: string[] = [];
  // Tenants of an unreachable server are summed up per server below, not listed one by one.
  const rows = result.tenants.filter((t) => t.outcome !== 'up_to_date' && t.outcome !== 'unreachable');
  if (rows.length) {
    const shown = [...rows.filter((t) => t.outcome === 'failed'), ...rows.filter((t) => t.outcome !== 'failed')].slice(
      0,
      Math.max(MAX_ROWS, c.failed),
    );
    // A staged run says which wave each tenant was in.
    const wave = result.waves ? ['wave'] : [];
    lines.push(
      out.table(
        [...wave, 'tenant', 'server', 'outcome', result.dryRun ? 'would run' : 'migrations', 'error'],
        shown.map((t) => [
          ...(result.waves ? [String(t.wave ?? '')] : []),
          t.slug,
          t.server,
          paint(out, t.outcome),
          summarised(t.migrations),
          errorCell(t) ?? (t.movedFrom ? `moved from ${t.movedFrom} while the run went on` : null),
        ]),
      ),
    );
    if (rows.length > shown.length)
      lines.push(out.color.dim(`… and ${rows.length - shown.length} more (--json lists every tenant)`));
  }
  const parts = [
    result.dryRun
      ? `${c.pending} with pending migrations`
      : `${result.kind === 'migrate' ? c.migrated : c.rolled_back} ${result.kind === 'migrate' ? 'migrated' : 'rolled back'}`,
    `${c.up_to_date} ${result.kind === 'migrate' ? 'up to date' : 'with nothing to roll back'}`,
    c.failed ? out.color.red(`${c.failed} failed`) : '0 failed',
    c.unreachable ? out.color.red(`${c.unreachable} unreachable`) : undefined,
    c.skipped ? out.color.yellow(`${c.skipped} skipped`) : undefined,
    c.busy ? out.color.yellow(`${c.busy} busy`) : undefined,
    c.moved ? out.color.yellow(`${c.moved} moved away`) : undefined,
  ].filter(Boolean);
  lines.push(
    ...renderOutages(
      out,
      result.unreachableServers,
      result.dryRun ? 'not checked' : `not ${result.kind === 'migrate' ? 'migrated' : 'rolled back'}`,
    ),
  );
  const mark = result.ok ? out.color.green('✔') : out.color.red('✖');
  const title = result.dryRun ? 'Dry run' : `${verb} run #${result.runId}`;
  if (!result.dryRun && c.migrated + c.rolled_back + c.failed > 0)
    lines.push(out.color.dim(`knex ${describeKnex(out, result.knex)}`));
  const backedUp = result.tenants.filter((t) => t.backup).length;
  if (backedUp) lines.push(out.color.dim(`${backedUp} backed up first (--backup-first; --json has each file)`));
  if (result.waves)
    lines.push(out.color.dim(`waves: ${result.waves.map((w) => `${w.number} ${w.name} (${w.tenants})`).join(' → ')}`));
  lines.push(
    `${mark} ${title}: ${result.total} tenants in ${(result.durationMs / 1000).toFixed(1)}s: ${parts.join(', ')}`,
  );
  const resume = `tenantctl ${result.kind === 'migrate' ? 'migrate-all' : 'rollback --all'} --resume ${result.runId}`;
  if (result.registryLost)
    lines.push(
      out.color.red(
        `Lost the registry mid-run, and the run's lock with it (${result.registryLost.error}): no tenant was started after that, those under way were cut${result.registryLost.unrecorded ? `; ${result.registryLost.unrecorded} outcomes could not be recorded` : ''}. Once the registry answers: ${resume}`,
      ),
    );
  else if (result.interrupted)
    lines.push(
      out.color.yellow(`Interrupted (${result.interrupted}): tenants not started are skipped. Resume with: ${resume}`),
    );
  else if (result.halted) lines.push(out.color.red(`Halted: ${result.halted}. Resume with --resume ${result.runId}`));
  if (
    !result.ok &&
    !result.dryRun &&
    result.kind === 'migrate' &&
    !result.halted &&
    !result.interrupted &&
    !result.registryLost
  )
    lines.push(out.color.dim('Fix the cause, then: tenantctl migrate-all --retry-failed'));
  return lines.join('\n');
}

function paint(out: Output, outcome: string): string {
  if (outcome === 'failed' || outcome === 'unreachable') return out.color.red(outcome);
  if (outcome === 'skipped' || outcome === 'busy' || outcome === 'moved') return out.color.yellow(outcome);
  if (outcome === 'pending') return out.color.cyan(outcome);
  return out.color.green(outcome);
}
