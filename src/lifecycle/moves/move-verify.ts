import type { DatabaseInspection, MigrationTable, TenantLogin } from '../../engines/engine-driver.js';
import { TamperedTableError } from '../../core/errors.js';
import { fingerprintDifferences } from '../../engines/content-fingerprint.js';
import type { LiveCheck } from './online-steps.js';

/** What a move's verify step compared and found equal. */
export interface VerifySummary {
  tables: number;
  rows: number;
  sequences: number;
  migrations: number;
  /**
   * Where the tables' content checksums were compared: `live`, before the fence at one point of
   * the change stream (an online move's `compare` step; the fence re-checked rows, sequences and
   * migrations), or `fenced`, inside the fence with everything else.
   */
  content: 'live' | 'fenced';
  /** With `live`: how long the source's writes paused for the comparison's snapshots. */
  writesPausedMs?: number;
  /**
   * With `live`: the tables whose rows were counted again inside the fence (those written since
   * the comparison); the others' counts, compared then, still held.
   */
  recounted?: number;
  /** With `fenced` on an online move that tried `live` first: why it could not be had. */
  liveSkipped?: string;
}

/**
 * Compares the target's copy with the source, each computed by its own server as the tenant's
 * user there: every table with the same exact row count and content checksum, the same
 * sequence/auto-increment positions, the same applied migrations. Throws, naming every
 * difference, when anything differs, or when a migration table (`table`, the knexfile's) is not a plain table.
 * With `live` (content compared before the fence), rows are counted but not checksummed, and
 * only in the tables written since (`live.known` holds the others').
 */
export async function verifyCopy(
  source: DatabaseInspection,
  sourceLogin: TenantLogin,
  target: DatabaseInspection,
  targetLogin: TenantLogin,
  table: MigrationTable,
  live: LiveCheck = { compared: false },
): Promise<VerifySummary> {
  const depth = live.compared ? 'rows' : 'content';
  const [s, t, sm, tm] = await Promise.all([
    source.contentFingerprint(sourceLogin, depth, live.known),
    target.contentFingerprint(targetLogin, depth, live.known),
    source.readAppliedMigrations([sourceLogin], table, 1),
    target.readAppliedMigrations([targetLogin], table, 1),
  ]);
  const problems = fingerprintDifferences(s, t);
  const read = [sm.get(sourceLogin.database) ?? [], tm.get(targetLogin.database) ?? []];
  const tampered = read.find((r) => r instanceof TamperedTableError);
  if (tampered) throw tampered;
  const applied = read as string[][];
  if (applied[0]!.join('\n') !== applied[1]!.join('\n')) {
    problems.push(
      `applied migrations differ: ${applied[0]!.length} on the source (last ${applied[0]!.at(-1) ?? 'none'}), ${applied[1]!.length} on the target (last ${applied[1]!.at(-1) ?? 'none'})`,
    );
  }
  if (problems.length) throw new Error(`the copy does not match the source: ${problems.join('; ')}`);
  const tables = Object.values(s.tables);
  return {
    tables: tables.length,
    rows: tables.reduce((sum, x) => sum + x.rows, 0),
    sequences: Object.keys(s.sequences).length,
    migrations: applied[0]!.length,
    ...(live.compared
      ? {
          content: 'live' as const,
          writesPausedMs: live.pausedMs,
          recounted: tables.length - Object.keys(live.known ?? {}).filter((t) => t in s.tables).length,
        }
      : { content: 'fenced' as const, ...(live.skipped ? { liveSkipped: live.skipped } : {}) }),
  };
}
