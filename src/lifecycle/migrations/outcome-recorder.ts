/**
 * Records a fleet run's outcomes as tenants finish, in batches: a batch is written when it holds
 * `batch` rows or `maxDelayMs` after its first row, whichever comes first, so the registry is
 * never more than about a second behind the run (a run killed now loses at most that), and a
 * thousand tenants still cost a handful of writes. Writes run one at a time; rows whose write
 * failed stay queued for the next one.
 */
export class OutcomeRecorder<R> {
  private pending: R[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private failure: unknown;

  constructor(
    private readonly write: (rows: R[]) => Promise<void>,
    private readonly maxDelayMs = 1000,
    private readonly batch = 100,
  ) {}

  add(row: R): void {
    this.pending.push(row);
    if (this.pending.length >= this.batch) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.maxDelayMs);
  }

  /** Writes what is queued (after any write under way); a failure is kept, its rows stay queued. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.writing = this.writing.then(async () => {
      const rows = this.pending.splice(0);
      if (!rows.length) return;
      try {
        await this.write(rows);
        this.failure = undefined;
      } catch (error) {
        this.pending.unshift(...rows);
        this.failure = error;
      }
    });
    return this.writing;
  }

  /** Writes everything left; says how many rows could not be written, and why. */
  async close(): Promise<{ unrecorded: number; error?: unknown }> {
    await this.flush();
    return this.pending.length ? { unrecorded: this.pending.length, error: this.failure } : { unrecorded: 0 };
  }
}
