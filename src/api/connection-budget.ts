import { ConnectionBudgetError } from './errors.js';

interface Waiter {
  key: string;
  grant: () => void;
  timer: NodeJS.Timeout;
}

/**
 * One budget of database connections for the whole process, and one queue for the queries that
 * want them. A query takes a turn (`checkout`) before it asks its tenant's pool for a connection
 * and gives it back when the pool has it again (`checkin`): at most `max` queries hold a
 * connection at once, at most `perKey` of one tenant, and a query waiting for its turn is served
 * first come, first served among those whose tenant has room — a busy tenant's next query never
 * overtakes another tenant's older one. A turn not granted within `timeoutMs` fails with
 * ConnectionBudgetError. Separately, every connection opened counts (`opening`/`closed`), so the
 * servers never see more than `max` from this process: a turn that needs a new connection when
 * all are open has `reclaim` close an idle one (the least recently used tenant's) first.
 */
export class ConnectionBudget {
  private open = 0;
  private held = 0;
  private readonly heldBy = new Map<string, number>();
  private readonly queue: Waiter[] = [];
  private readonly openers: Waiter[] = [];

  constructor(
    readonly max: number,
    readonly perKey: number,
    private readonly reclaim: () => void,
    readonly timeoutMs: number,
  ) {}

  /** Connections open or being opened now. */
  get inUse(): number {
    return this.open;
  }

  /** Queries holding a connection (or about to) now. */
  get active(): number {
    return this.held;
  }

  /** Queries waiting for their turn or for a connection to be opened. */
  get waiting(): number {
    return this.queue.length + this.openers.length;
  }

  /** Whether `key` has a query holding or waiting for a turn. */
  busy(key: string): boolean {
    return this.heldBy.has(key) || this.queue.some((w) => w.key === key);
  }

  /** Waits for `key`'s query's turn (see the class comment). */
  checkout(key: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        key,
        grant: () => {
          clearTimeout(waiter.timer);
          this.held++;
          this.heldBy.set(key, (this.heldBy.get(key) ?? 0) + 1);
          resolve();
        },
        timer: setTimeout(() => {
          this.queue.splice(this.queue.indexOf(waiter), 1);
          reject(new ConnectionBudgetError(this.max, this.timeoutMs));
        }, this.timeoutMs),
      };
      this.queue.push(waiter);
      this.serve();
    });
  }

  /** `key`'s query is done with its connection: the next turn goes to the oldest waiter with room. */
  checkin(key: string): void {
    this.held--;
    const left = (this.heldBy.get(key) ?? 1) - 1;
    if (left > 0) this.heldBy.set(key, left);
    else this.heldBy.delete(key);
    this.serve();
  }

  private serve(): void {
    for (let i = 0; i < this.queue.length && this.held < this.max;) {
      const waiter = this.queue[i]!;
      if ((this.heldBy.get(waiter.key) ?? 0) < this.perKey) {
        this.queue.splice(i, 1);
        waiter.grant();
      } else i++;
    }
  }

  /**
   * A connection is about to be opened. With every connection open, one is idle (turns never
   * outnumber connections): `reclaim` closes it, and this waits for its slot.
   */
  opening(): Promise<void> {
    if (this.open < this.max) {
      this.open++;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        key: '',
        grant: () => {
          clearTimeout(waiter.timer);
          resolve();
        },
        timer: setTimeout(() => {
          this.openers.splice(this.openers.indexOf(waiter), 1);
          reject(new ConnectionBudgetError(this.max, this.timeoutMs));
        }, this.timeoutMs),
      };
      this.openers.push(waiter);
      this.reclaim();
    });
  }

  /** A connection was closed (or never opened): its slot goes to a waiting opener, if any. */
  closed(): void {
    const next = this.openers.shift();
    if (next) next.grant();
    else this.open--;
  }
}
