import type { Writable } from 'node:stream';
import type { DatabaseInspection, DumpRestore, DumpTools, TenantLogin } from '../../engines/engine-driver.js';

/**
 * Each table's exact row count when a backup was taken, as recorded with it (`row_counts`).
 * A table whose count changed while the dump ran is null: its count in the dump is unknown.
 */
export type RecordedRowCounts = Record<string, number | null>;

/**
 * Dumps the database of `login` (counted and dumped as the tenant) into `output` and returns each
 * table's row count in the dump. Where the engine
 * counts in the dump's own snapshot (dumpCounted) every count is exact. Elsewhere the dump runs
 * between two counts: the dump tool reads its own consistent snapshot, so a count taken while
 * writes go on could differ from what the file holds, and such tables are recorded as unknown
 * rather than guessed.
 */
export async function countedDump(
  server: Pick<DatabaseInspection, 'rowCounts'> & Pick<DumpRestore, 'dump' | 'dumpCounted'>,
  login: TenantLogin,
  output: Writable,
  tools: DumpTools,
): Promise<RecordedRowCounts> {
  if (server.dumpCounted) return server.dumpCounted(login, output, tools);
  const before = await server.rowCounts(login);
  await server.dump(login, output, tools);
  const after = await server.rowCounts(login);
  const counts: RecordedRowCounts = {};
  for (const table of new Set([...Object.keys(before), ...Object.keys(after)]))
    counts[table] = before[table] === after[table] ? before[table]! : null;
  return counts;
}

export function parseRowCounts(json: string | null): RecordedRowCounts | null {
  return json ? (JSON.parse(json) as RecordedRowCounts) : null;
}

/** What differs between the counts recorded with a backup and those of its restored copy. */
export function rowCountDifferences(recorded: RecordedRowCounts, restored: Record<string, number>): string[] {
  const differences: string[] = [];
  for (const table of new Set([...Object.keys(recorded), ...Object.keys(restored)])) {
    const expected = recorded[table];
    if (!(table in recorded)) differences.push(`${table}: restored, but not in the backup's record`);
    else if (!(table in restored)) differences.push(`${table}: missing from the restored copy`);
    else if (expected !== null && expected !== restored[table])
      differences.push(`${table}: ${restored[table]} rows restored, ${expected} when backed up`);
  }
  return differences;
}
