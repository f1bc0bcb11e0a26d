/** `--aggregate <column>`: a fleet summary of one numeric column, kept as the rows go by. */
export interface FleetAggregate {
  column: string;
  /** Tenants with at least one number in the column. */
  tenants: number;
  /** Numbers summed (rows whose value is a number). */
  values: number;
  sum: number;
  /** Null when no row had a number. */
  min: number | null;
  max: number | null;
  /** Rows whose value was missing, null or not a number: left out of the summary. */
  skipped: number;
}

/** A number as the drivers hand them: numbers, bigints, and numeric strings (PostgreSQL's bigint, numeric). */
function numeric(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && /^\s*-?\d+(\.\d+)?([eE][-+]?\d+)?\s*$/.test(value)) return Number(value);
  return undefined;
}

/** Sums one column over the rows of every tenant, never holding the rows. */
export class Aggregator {
  private readonly summary: FleetAggregate;

  constructor(column: string) {
    this.summary = { column, tenants: 0, values: 0, sum: 0, min: null, max: null, skipped: 0 };
  }

  /** One tenant's rows. */
  add(rows: ReadonlyArray<Record<string, unknown>>): void {
    const s = this.summary;
    let counted = false;
    for (const row of rows) {
      const n = numeric(row[s.column]);
      if (n === undefined) {
        s.skipped++;
        continue;
      }
      counted = true;
      s.values++;
      s.sum += n;
      s.min = s.min === null ? n : Math.min(s.min, n);
      s.max = s.max === null ? n : Math.max(s.max, n);
    }
    if (counted) s.tenants++;
  }

  result(): FleetAggregate {
    return { ...this.summary };
  }
}
