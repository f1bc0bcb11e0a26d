import type { Writable } from 'node:stream';
import type { DatabaseInspection, DumpRestore, DumpTools, TenantLogin } from '../../engines/engine-driver.js';
import { bracketedCounts, type RecordedRowCounts } from '../../engines/row-counts.js';

export type { RecordedRowCounts };

/**
 * Dumps the database of `login` (counted and dumped as the tenant) into `output` and returns each
 * table's row count in the dump: where the engine counts on the dump's own session (dumpCounted),
 * as it does; elsewhere the dump runs between two counts, and a table whose count moved meanwhile
 * is recorded as unknown rather than guessed (see bracketedCounts).
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
  return bracketedCounts(before, await server.rowCounts(login));
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
