import type { ExecFleetResult } from '../../lifecycle/exec/index.js';
import type { Output } from '../output.js';
import { renderOutages } from './outages.js';

/** Rows shown before "… and N more" (JSON always has every tenant). */
const MAX_ROWS = 25;

/** `tenantctl exec`'s result at a terminal: the tenants worth a look, then the counts. */
export function renderExecResult(out: Output, result: ExecFleetResult): string {
  const c = result.counts;
  const lines: string[] = [];
  const rows = result.tenants.filter((t) => t.outcome !== 'unreachable');
  const shown = [...rows.filter((t) => t.outcome === 'failed'), ...rows.filter((t) => t.outcome !== 'failed')].slice(
    0,
    Math.max(MAX_ROWS, c.failed),
  );
  if (shown.length) {
    const wave = result.waves ? ['wave'] : [];
    lines.push(
      out.table(
        [...wave, 'tenant', 'server', 'outcome', result.dryRun ? 'would change' : 'rows changed', 'error'],
        shown.map((t) => [
          ...(result.waves ? [String(t.wave ?? '')] : []),
          t.slug,
          t.server,
          t.outcome === 'executed'
            ? out.color.green(t.outcome)
            : t.outcome === 'failed'
              ? out.color.red(t.outcome)
              : out.color.yellow(t.outcome),
          t.rowsChanged === undefined ? '' : String(t.rowsChanged),
          t.error ?? null,
        ]),
      ),
    );
    if (rows.length > shown.length)
      lines.push(out.color.dim(`… and ${rows.length - shown.length} more (--json lists every tenant)`));
  }
  lines.push(...renderOutages(out, result.unreachableServers, 'not worked on'));
  for (const note of result.notes) lines.push(out.color.yellow(`Note: ${note}`));
  const parts = [
    `${c.executed} ${result.dryRun ? 'ran and rolled back (dry run)' : 'executed'}`,
    c.failed ? out.color.red(`${c.failed} failed`) : '0 failed',
    c.unreachable ? out.color.red(`${c.unreachable} unreachable`) : undefined,
    c.busy ? out.color.yellow(`${c.busy} busy`) : undefined,
    c.skipped ? out.color.yellow(`${c.skipped} skipped`) : undefined,
    c.moved ? out.color.yellow(`${c.moved} moved`) : undefined,
    `${result.rowsChanged} row(s) ${result.dryRun ? 'would change' : 'changed'}`,
  ].filter(Boolean);
  const run = result.runId === null ? '' : `Run #${result.runId}: `;
  lines.push(
    `${run}${parts.join(', ')} (${result.work.kind} ${result.work.file}, sha256 ${result.work.sha256.slice(0, 12)}…)`,
  );
  if (result.halted)
    lines.push(out.color.red(`Halted: ${result.halted}. Resume with: tenantctl exec --resume ${result.runId}`));
  if (result.interrupted)
    lines.push(
      out.color.yellow(`Interrupted (${result.interrupted}). Resume with: tenantctl exec --resume ${result.runId}`),
    );
  return lines.join('\n');
}
