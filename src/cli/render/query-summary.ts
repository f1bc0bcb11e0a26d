import type { QueryResult } from '../../lifecycle/query/index.js';
import type { Output } from '../output.js';
import { renderOutages } from './outages.js';
import { csvWriter, jsonWriter, ndjsonWriter, tableWriter, type QueryFormat, type RowWriter } from './query-rows.js';

/** Failed tenants listed before "… and N more" (`--format json` has every one). */
const MAX_FAILED = 25;

export function writerFor(format: QueryFormat, out: Output): RowWriter {
  if (format === 'json') return jsonWriter();
  if (format === 'ndjson') return ndjsonWriter();
  if (format === 'csv') return csvWriter((message) => out.warn(message));
  return tableWriter((s) => out.color.bold(s));
}

/**
 * What follows the rows: the tenants that did not answer, the servers not reached, the fleet
 * summary and the counts. Empty for json, whose document holds it all. For a table on stdout;
 * for ndjson and csv on stderr, so that stdout is the rows alone.
 */
export function renderQuerySummary(out: Output, result: QueryResult, format: QueryFormat): string {
  if (format === 'json') return '';
  const lines: string[] = [];
  const failed = result.tenants.filter((t) => t.outcome !== 'ok' && t.outcome !== 'unreachable');
  for (const t of failed.slice(0, MAX_FAILED)) {
    const mark = t.outcome === 'failed' ? out.color.red('✖') : out.color.yellow('!');
    lines.push(`${mark} ${t.slug} (${t.server}): ${t.outcome}: ${t.error ?? ''}`);
  }
  if (failed.length > MAX_FAILED)
    lines.push(out.color.dim(`… and ${failed.length - MAX_FAILED} more (--format json lists every tenant)`));
  lines.push(...renderOutages(out, result.unreachableServers ?? [], 'not read'));
  const a = result.aggregate;
  if (a)
    lines.push(
      `${a.column}: sum ${a.sum} · min ${a.min ?? '-'} · max ${a.max ?? '-'} · over ${a.tenants} tenants (${a.values} rows${a.skipped ? `, ${a.skipped} not numbers` : ''})`,
    );
  const c = result.counts;
  const parts = [
    `${c.ok} answered`,
    c.failed ? out.color.red(`${c.failed} failed`) : '0 failed',
    c.unreachable ? out.color.red(`${c.unreachable} unreachable`) : undefined,
    c.busy ? out.color.yellow(`${c.busy} busy`) : undefined,
    c.skipped ? out.color.yellow(`${c.skipped} skipped`) : undefined,
  ].filter(Boolean);
  const mark = result.ok ? out.color.green('✔') : out.color.red('✖');
  lines.push(
    `${mark} ${result.rowCount} rows from ${result.total} tenants in ${(result.durationMs / 1000).toFixed(1)}s: ${parts.join(', ')}`,
  );
  if (result.interrupted)
    lines.push(out.color.yellow(`Interrupted (${result.interrupted}): tenants not started are skipped`));
  return lines.join('\n');
}

/**
 * A progress line on stderr, for a person (Output.interactive), that stays below the rows: it
 * is wiped before rows are written and drawn again after, at most ten times a second.
 */
export function progressOnStderr(out: Output): {
  set(text: string): void;
  around(write: () => Promise<void>): Promise<void>;
  done(): void;
} {
  let text = '';
  let drawnAt = 0;
  const wipe = () => process.stderr.write('\r\x1b[K');
  const draw = () => {
    drawnAt = Date.now();
    process.stderr.write(`\r\x1b[K${out.color.dim(text)}`);
  };
  if (!out.interactive) return { set: () => {}, around: (write) => write(), done: () => {} };
  return {
    set(next) {
      text = next;
      if (Date.now() - drawnAt >= 100) draw();
    },
    async around(write) {
      wipe();
      try {
        await write();
      } finally {
        draw();
      }
    },
    done: wipe,
  };
}
