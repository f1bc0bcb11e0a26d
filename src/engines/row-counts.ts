/**
 * Each table's exact row count in a dump, as recorded with its backup (`row_counts`). A table
 * whose count changed while the dump ran is null: its count in the dump is unknown.
 */
export type RecordedRowCounts = Record<string, number | null>;

/**
 * The counts of a dump taken between two counts (`before` and `after` it): the dump tool reads its
 * own consistent snapshot, so where a table's count moved meanwhile what the file holds is not
 * known, and that table is recorded as unknown rather than guessed.
 */
export function bracketedCounts(before: Record<string, number>, after: Record<string, number>): RecordedRowCounts {
  const counts: RecordedRowCounts = {};
  for (const table of new Set([...Object.keys(before), ...Object.keys(after)]))
    counts[table] = before[table] === after[table] ? before[table]! : null;
  return counts;
}
