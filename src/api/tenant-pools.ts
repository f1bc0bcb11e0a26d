import knexFactory, { type Knex } from 'knex';
import { ConnectionBudget } from './connection-budget.js';
import { ConnectionBudgetError } from './errors.js';

/** How much longer than the budget's wait a pool waits for a connection (the connect itself). */
const POOL_MARGIN_MS = 10_000;

/** The parts of knex's pool (tarn) this module relies on. */
interface TarnPool {
  idleTimeoutMillis: number;
  numUsed(): number;
  numFree(): number;
  numPendingCreates(): number;
  check(): void;
}

/** The parts of a knex client this module wraps: where connections are handed out and opened. */
interface KnexClientParts {
  acquireConnection(): Promise<unknown>;
  releaseConnection(connection: unknown): Promise<unknown>;
  acquireRawConnection(): Promise<unknown>;
  destroyRawConnection(connection: unknown): Promise<void>;
  pool?: TarnPool;
}

interface PoolEntry {
  knex: Knex;
  /** The budget's name for this pool's queries (a tenant's pool made anew gets a new one). */
  turn: string;
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
  private made = 0;
  private readonly retiring = new Set<Promise<void>>();
  readonly budget: ConnectionBudget;
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly options: TenantPoolsOptions) {
    this.budget = new ConnectionBudget(
      options.maxConnections,
      Math.min(options.connectionsPerTenant, options.maxConnections),
      () => this.reclaimIdle(),
      options.acquireTimeoutMs,
    );
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
      const turn = `${slug}#${++this.made}`;
      entry = { knex: this.open(config(), turn), turn, key, lastUsed: 0 };
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

  /**
   * A knex whose every query takes its turn in the budget's queue before it gets a connection,
   * and whose every connection is counted, whichever tenant it belongs to.
   */
  private open(config: Knex.Config, turn: string): Knex {
    const { connectionsPerTenant, idleTimeoutMs, acquireTimeoutMs, maxConnections } = this.options;
    const knex = knexFactory({
      ...config,
      // The budget's queue decides how long a query waits; the pool only waits for a connect.
      acquireConnectionTimeout: acquireTimeoutMs + POOL_MARGIN_MS,
      pool: {
        ...config.pool,
        min: 0,
        max: Math.min(connectionsPerTenant, maxConnections),
        idleTimeoutMillis: idleTimeoutMs,
        reapIntervalMillis: Math.max(50, Math.min(1000, Math.floor(idleTimeoutMs / 2))),
      },
    });
    const client = knex.client as KnexClientParts;
    const acquire = client.acquireConnection.bind(client);
    const release = client.releaseConnection.bind(client);
    const open = client.acquireRawConnection.bind(client);
    const destroy = client.destroyRawConnection.bind(client);
    client.acquireConnection = async () => {
      await this.budget.checkout(turn);
      try {
        return await acquire();
      } catch (error) {
        this.budget.checkin(turn);
        // Never knex's own "pool is probably full": the budget's error says what happened.
        if ((error as Error).name === 'KnexTimeoutError')
          throw new ConnectionBudgetError(maxConnections, acquireTimeoutMs, { cause: error });
        throw error;
      }
    };
    client.releaseConnection = async (connection) => {
      try {
        return await release(connection);
      } finally {
        this.budget.checkin(turn);
      }
    };
    client.acquireRawConnection = async () => {
      await this.budget.opening();
      try {
        return await open();
      } catch (error) {
        this.budget.closed();
        throw error;
      }
    };
    client.destroyRawConnection = async (connection) => {
      try {
        await destroy(connection);
      } finally {
        this.budget.closed();
      }
    };
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
      if (empty && entry.lastUsed < cutoff && !this.budget.busy(entry.turn)) this.close(slug);
    }
  }
}

function poolOf(entry: PoolEntry): TarnPool | undefined {
  return (entry.knex.client as { pool?: TarnPool }).pool;
}
