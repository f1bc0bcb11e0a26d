import { ConnectionBudgetError } from './errors.js';

/**
 * One count of open database connections for the whole process. A connection takes a slot
 * before it is opened and gives it back once it is closed, so the servers never see more than
 * `max` connections from this process. When none is free, `reclaim` is asked to close an idle
 * connection elsewhere (the least recently used tenant's); the waiter gets the slot it frees.
 */
export class ConnectionBudget {
  private open = 0;
  private readonly waiters: Array<{ grant: () => void }> = [];

  constructor(
    readonly max: number,
    private readonly reclaim: () => void,
    private readonly timeoutMs: number,
  ) {}

  /** Connections open or being opened now. */
  get inUse(): number {
    return this.open;
  }

  /** Callers waiting for a slot. */
  get waiting(): number {
    return this.waiters.length;
  }

  async acquire(): Promise<void> {
    if (this.open < this.max) {
      this.open++;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new ConnectionBudgetError(this.max, this.timeoutMs));
      }, this.timeoutMs);
      this.waiters.push(waiter);
      this.reclaim();
    });
  }

  /** A connection was closed (or never opened): its slot goes to the next waiter, if any. */
  release(): void {
    const next = this.waiters.shift();
    if (next) next.grant();
    else this.open--;
  }
}
