import knexFactory, { type Knex } from 'knex';
import { ConnectionBudget } from './connection-budget.js';

/** The parts of knex's pool (tarn) this module relies on. */
interface TarnPool {
  idleTimeoutMillis: number;
  numUsed(): number;
  numFree(): number;
  numPendingCreates(): number;
  check(): void;
  on(event: 'release', listener: () => void): void;
}

interface PoolEntry {
  knex: Knex;
  /** What the pool connects with (server, database, user, password); a change means a new pool. */
  key: string;
  lastUsed: number;
}

export interface TenantPoolsOptions {
  maxConnections: number;
  connectionsPerTenant: number;
  idleTimeoutMs: number;
  acquireTimeoutMs: number;
}

/**
 * Per-tenant knex pools under one connection budget. Pools are made on demand; each connection
 * they open is counted by the budget; when the budget is spent, the least recently used tenant's
 * idle connections are closed for the one that needs one; idle connections close after
 * `idleTimeoutMs`, and pools left without connections are dropped.
 */
export class TenantPools {
  private readonly pools = new Map<string, PoolEntry>();
  private readonly retiring = new Set<Promise<void>>();
  readonly budget: ConnectionBudget;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: TenantPoolsOptions) {
    this.budget = new ConnectionBudget(options.maxConnections, () => this.reclaimIdle(), options.acquireTimeoutMs);
    this.sweeper = setInterval(() => this.sweep(), Math.max(100, Math.min(options.idleTimeoutMs, 10_000)));
    this.sweeper.unref();
  }

  /** The pool for `slug`, made with `config()` if there is none or it was made for another `key`. */
  get(slug: string, key: string, config: () => Knex.Config): Knex {
    let entry = this.pools.get(slug);
    if (entry && entry.key !== key) {
      this.close(slug);
      entry = undefined;
    }
    if (!entry) {
      entry = { knex: this.open(config()), key, lastUsed: 0 };
      this.pools.set(slug, entry);
    }
    entry.lastUsed = performance.now();
    return entry.knex;
  }

  /** Closes a tenant's pool: queries under way finish, then its connections close. */
  close(slug: string): void {
    const entry = this.pools.get(slug);
    if (!entry) return;
    this.pools.delete(slug);
    const done = entry.knex.destroy().catch(() => undefined);
    this.retiring.add(done);
    void done.finally(() => this.retiring.delete(done));
  }

  /** Pools held now (with or without connections). */
  get size(): number {
    return this.pools.size;
  }

  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    for (const slug of [...this.pools.keys()]) this.close(slug);
    await Promise.all([...this.retiring]);
  }

  /** A knex whose every connection is counted by the budget. */
  private open(config: Knex.Config): Knex {
    const { connectionsPerTenant, idleTimeoutMs, acquireTimeoutMs, maxConnections } = this.options;
    const knex = knexFactory({
      ...config,
      acquireConnectionTimeout: acquireTimeoutMs,
      pool: {
        min: 0,
        max: Math.min(connectionsPerTenant, maxConnections),
        idleTimeoutMillis: idleTimeoutMs,
        reapIntervalMillis: Math.max(50, Math.min(1000, Math.floor(idleTimeoutMs / 2))),
      },
    });
    // knex opens and closes raw connections through its client: the budget is taken before a
    // connection is opened and given back once it is closed, whichever tenant it belongs to.
    const client = knex.client as {
      acquireRawConnection(): Promise<unknown>;
      destroyRawConnection(c: unknown): Promise<void>;
      pool?: TarnPool;
    };
    const acquire = client.acquireRawConnection.bind(client);
    const destroy = client.destroyRawConnection.bind(client);
    client.acquireRawConnection = async () => {
      await this.budget.acquire();
      try {
        return await acquire();
      } catch (error) {
        this.budget.release();
        throw error;
      }
    };
    client.destroyRawConnection = async (connection) => {
      try {
        await destroy(connection);
      } finally {
        this.budget.release();
      }
    };
    // A connection handed back while others wait for the budget is closed rather than kept idle.
    client.pool?.on('release', () => {
      if (this.budget.waiting > 0) setImmediate(() => this.reclaimIdle());
    });
    return knex;
  }

  /** Closes the idle connections of the least recently used pool that has any. */
  private reclaimIdle(): void {
    const idle = [...this.pools.values()]
      .filter((entry) => poolOf(entry)?.numFree())
      .sort((a, b) => a.lastUsed - b.lastUsed)[0];
    const pool = idle && poolOf(idle);
    if (!pool) return;
    const keep = pool.idleTimeoutMillis;
    pool.idleTimeoutMillis = 0;
    try {
      pool.check();
    } finally {
      pool.idleTimeoutMillis = keep;
    }
  }

  /** Drops pools that have had no connection for the idle timeout (their knex holds nothing). */
  private sweep(): void {
    const cutoff = performance.now() - this.options.idleTimeoutMs;
    for (const [slug, entry] of this.pools) {
      const pool = poolOf(entry);
      const empty = !pool || pool.numUsed() + pool.numFree() + pool.numPendingCreates() === 0;
      if (empty && entry.lastUsed < cutoff) this.close(slug);
    }
  }
}

function poolOf(entry: PoolEntry): TarnPool | undefined {
  return (entry.knex.client as { pool?: TarnPool }).pool;
}
