import type { SchemaDiffResult } from '../../lifecycle/schema/index.js';
import type { Output } from '../output.js';

/** Tenants named per variant before "and N more" (--json names every one). */
const MAX_NAMES = 5;

/** `schema diff` at a terminal: one block per variant, the expected one first. */
export function renderSchemaDiff(out: Output, result: SchemaDiffResult, sql: boolean): string {
  const from =
    result.expectedFrom.kind === 'reference'
      ? `tenant ${result.expectedFrom.slug}`
      : 'a fresh tenant at the latest migration (scratch database)';
  const lines = [
    `${result.variants.length} variant${result.variants.length === 1 ? '' : 's'} over ${result.total} tenant${result.total === 1 ? '' : 's'}; expected: ${from}`,
  ];
  for (const v of result.variants) {
    const names =
      v.tenants.slice(0, MAX_NAMES).join(', ') + (v.count > MAX_NAMES ? ` and ${v.count - MAX_NAMES} more` : '');
    const head = `${v.count} tenant${v.count === 1 ? '' : 's'}: variant ${v.name}${v.expected ? ' (expected)' : ''}`;
    lines.push('', v.expected ? out.color.green(head) : out.color.yellow(head), out.color.dim(`  ${names}`));
    for (const line of v.summary) lines.push(`  ${line}`);
    if (sql && !v.expected) {
      for (const fix of v.fixes) lines.push(`  ${fix}`);
      for (const line of v.byHand) lines.push(out.color.dim(`  -- by hand: ${line}`));
    }
  }
  for (const u of result.unread) lines.push(out.color.red(`✖ ${u.slug} (${u.server}) ${u.outcome}: ${u.error}`));
  lines.push(
    '',
    out.color.dim(
      `${result.cache.read} read in full, ${result.cache.cached} unchanged since their last read (one query each; --no-cache reads every one)`,
    ),
  );
  return lines.join('\n');
}
