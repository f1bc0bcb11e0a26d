import type { Knex } from 'knex';
import type { ConnectionConfig } from '../engines/engine-descriptor.js';
import { applicationConnection, connectionUrlOf } from '../lifecycle/shared/tenant-connection.js';
import { resolveConfig } from '../config/resolve-config.js';
import { AppContext } from '../context/app-context.js';
import type { Context } from '../context/context.js';
import { UsageError } from '../core/errors.js';
import { MAX_SLUG_LENGTH } from '../core/slug.js';
import type { ServerConnection } from '../engines/engine-driver.js';
import { driverFor } from '../engines/drivers.js';
import { findIndexedTenantId, readIndexedKeys } from '../registry/metadata-index-repo.js';
import { findServerRow, specFromRow, type ServerRow } from '../registry/servers-repo.js';
import { findTenantRow, findTenantSlugById, toTenant, type Tenant, type TenantRow } from '../registry/tenants-repo.js';
import { TenantNotFoundError, TenantSuspendedError, TenantUnavailableError } from './errors.js';
import { fencedByMove } from '../registry/moves-repo.js';
import { TenantPools } from './tenant-pools.js';

/** How an application opens the fleet. Every field but `registryUrl` has a default. */
export interface FleetOptions {
  /** The registry database, as the CLI's `registryUrl` (`postgres://…`, `mysql://…`, `sqlite:<file>`). */
  registryUrl: string;
  /** The 32-byte key (hex or base64) the registry's passwords are encrypted with. */
  secretKey?: string;
  /** File holding the key when `secretKey` is unset. Default `.tenantctl/secret.key` in the working directory. */
  secretKeyFile?: string;
  /** Most database connections to tenant databases this process holds at once, all tenants together. Default 50. */
  maxConnections?: number;
  /** Most connections one tenant's pool holds (never more than `maxConnections`). Default 2. */
  connectionsPerTenant?: number;
  /** An idle connection closes after this long; a pool without connections is dropped after it too. Default 30 000. */
  idleTimeoutMs?: number;
  /**
   * How long a tenant's registry record is trusted before it is read again: the longest a suspension, move or new
   * password goes unseen. Default 5 000.
   */
  cacheTtlMs?: number;
  /**
   * How long a query waits for its turn when the budget is spent before failing with
   * ConnectionBudgetError (queries are served first come, first served). Default 30 000.
   */
  acquireTimeoutMs?: number;
  /** Never write to the registry: no schema migration, no key generation, no indexing. Default false. */
  readOnly?: boolean;
  /**
   * Metadata keys to index when not read-only (the CLI's `indexedMetadata`); keys indexed already are always usable.
   */
  indexedMetadata?: string[];
  /** Working directory for relative paths (`sqlite:` URLs, `secretKeyFile`). Default `process.cwd()`. */
  cwd?: string;
}

/** A tenant as an application sees it: the registry record without secrets, plus its engine. */
export interface FleetTenant extends Tenant {
  engine: string;
}

interface Resolved {
  row: TenantRow;
  server: ServerRow;
  tenant: FleetTenant;
}

interface Cached<T> {
  at: number;
  value: Promise<T>;
}

/** What the fleet holds now, for monitoring and the benchmark. */
export interface FleetStats {
  /** Open (or opening) connections to tenant databases, all tenants together. */
  connections: number;
  maxConnections: number;
  /** Queries holding a connection now (0 once every query has finished). */
  active: number;
  /** Queries waiting for their turn because the budget is spent (first come, first served). */
  waiting: number;
  /** Tenant pools held (with or without connections). */
  pools: number;
}

/**
 * An application's view of the fleet: tenants by slug or indexed metadata, and a pooled knex on
 * each tenant's database as the tenant's own user, all under one connection budget. Registry
 * records are cached for `cacheTtlMs`; after that a suspension, deletion, move or new password
 * takes effect on the next call.
 */
export class Fleet {
  private readonly pools: TenantPools;
  private readonly tenants = new Map<string, Cached<Resolved | undefined>>();
  private readonly lookups = new Map<string, Cached<string | undefined>>();
  private readonly servers = new Map<string, ServerConnection>();
  private readonly ttl: number;
  private closed = false;

  constructor(
    private readonly ctx: Context,
    options: FleetOptions,
  ) {
    const maxConnections = positive(options.maxConnections ?? 50, 'maxConnections');
    this.ttl = nonNegative(options.cacheTtlMs ?? 5000, 'cacheTtlMs');
    this.pools = new TenantPools({
      maxConnections,
      connectionsPerTenant: positive(options.connectionsPerTenant ?? 2, 'connectionsPerTenant'),
      idleTimeoutMs: positive(options.idleTimeoutMs ?? 30_000, 'idleTimeoutMs'),
      acquireTimeoutMs: positive(options.acquireTimeoutMs ?? 30_000, 'acquireTimeoutMs'),
    });
  }

  /**
   * A knex on the tenant's database, connected as the tenant's own user. Ask for it on every
   * request (a cached lookup) rather than keeping it: a pool is closed when its tenant is
   * suspended, moved or idle. Throws TenantNotFoundError, TenantSuspendedError or
   * TenantUnavailableError; the tenant's pool is closed when it is refused.
   */
  async knex(slug: string): Promise<Knex> {
    const resolved = await this.servable(slug);
    const { row, server } = resolved;
    const key = [server.id, server.updated_at, row.database_name, row.database_user, row.password_enc].join('\u0000');
    const login = await this.credentials(row, server);
    const connection = this.serverConnection(server);
    this.assertOpen();
    return this.pools.get(slug, key, () =>
      connection.tenantUserKnexConfig(row.database_name, login.user ?? '', login.password ?? ''),
    );
  }

  /**
   * Where and as whom an application connects to the tenant's database: host, port, user,
   * password, database (SQLite: the file's path, the rest null), for clients that are not Knex.
   * Refuses a tenant that may not be served, as knex() does (TenantSuspendedError, …).
   */
  async connectionConfig(slug: string): Promise<ConnectionConfig> {
    const { row, server } = await this.servable(slug);
    return applicationConnection(this.ctx, row, server);
  }

  /** connectionConfig() as a URL, password included (`postgresql://…`, `mysql://…`, `file:…`). */
  async connectionString(slug: string): Promise<string> {
    return connectionUrlOf(await this.connectionConfig(slug), true);
  }

  /** The tenant's record (any status but deleted); TenantNotFoundError if there is none. */
  async tenant(slug: string): Promise<FleetTenant> {
    return (await this.lookup(slug)).tenant;
  }

  /**
   * The tenant whose indexed metadata key has this value, e.g. `resolve({ domain: 'acme.example.com' })`.
   * The key must be indexed (`indexedMetadata`). Throws TenantNotFoundError if no tenant has it.
   */
  async resolve(query: Record<string, string>): Promise<FleetTenant> {
    const entries = Object.entries(query);
    if (entries.length !== 1)
      throw new UsageError('resolve takes exactly one metadata key, e.g. { domain: "acme.example.com" }');
    const [key, value] = entries[0]!;
    const slug = await this.cached(this.lookups, `${key}\u0000${value}`, async () => {
      const registry = await this.ctx.registry();
      if (!(await readIndexedKeys(registry.knex)).includes(key)) {
        throw new UsageError(`metadata key "${key}" is not indexed (add it to indexedMetadata)`);
      }
      const id = await findIndexedTenantId(registry.knex, key, String(value));
      if (id === undefined) return undefined;
      return findTenantSlugById(registry.knex, id);
    });
    if (!slug) throw new TenantNotFoundError(String(value), `no tenant has ${key} "${value}"`);
    return this.tenant(slug);
  }

  /** Opens the registry and checks the key, so that a bad configuration fails at open. */
  async ready(): Promise<void> {
    await this.ctx.secretKey();
  }

  /** Forgets cached registry records, so the next call reads them again. */
  invalidate(slug?: string): void {
    if (slug === undefined) {
      this.tenants.clear();
      this.lookups.clear();
    } else {
      this.tenants.delete(slug);
    }
  }

  stats(): FleetStats {
    return {
      connections: this.pools.budget.inUse,
      maxConnections: this.pools.budget.max,
      active: this.pools.budget.active,
      waiting: this.pools.budget.waiting,
      pools: this.pools.size,
    };
  }

  /** Closes every pool (queries under way finish first) and the registry connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pools.closeAll();
    for (const server of this.servers.values()) await server.close().catch(() => undefined);
    await this.ctx.close();
  }

  /** The tenant if it may be served now; otherwise its pool is closed and a typed error thrown. */
  private async servable(slug: string): Promise<Resolved> {
    let resolved: Resolved;
    try {
      resolved = await this.lookup(slug);
    } catch (error) {
      this.pools.close(slug);
      throw error;
    }
    const { row } = resolved;
    if (row.status === 'active' && !fencedByMove(row.step)) return resolved;
    this.pools.close(slug);
    if (row.status === 'suspended') throw new TenantSuspendedError(slug, row.status_reason);
    if (fencedByMove(row.step)) throw new TenantUnavailableError(slug, row.status, 'moving');
    throw new TenantUnavailableError(slug, row.status);
  }

  private async lookup(slug: string): Promise<Resolved> {
    if (slug.length > MAX_SLUG_LENGTH || !/^[a-z][a-z0-9_-]*$/.test(slug))
      throw new TenantNotFoundError(slug, 'no such tenant (not a valid slug)');
    this.assertOpen();
    const resolved = await this.cached(this.tenants, slug, async () => {
      const registry = await this.ctx.registry();
      const row = await findTenantRow(registry.knex, slug);
      if (!row || row.status === 'deleted') return undefined;
      const server = await findServerRow(registry.knex, { id: row.server_id });
      if (!server) return undefined;
      return { row, server, tenant: { ...toTenant(row, server.name), engine: server.engine } };
    });
    if (!resolved) throw new TenantNotFoundError(slug);
    return resolved;
  }

  /** A value read at most once per `cacheTtlMs`; a failed read is not kept. */
  private cached<T>(cache: Map<string, Cached<T>>, key: string, read: () => Promise<T>): Promise<T> {
    const hit = cache.get(key);
    if (hit && performance.now() - hit.at < this.ttl) return hit.value;
    const value = read();
    cache.set(key, { at: performance.now(), value });
    value.catch(() => cache.get(key)?.value === value && cache.delete(key));
    return value;
  }

  /** The tenant's own user and password; with shared credentials (no tenant user), the server's. */
  private async credentials(row: TenantRow, server: ServerRow): Promise<{ user?: string; password?: string }> {
    if (row.database_user)
      return {
        user: row.database_user,
        password: row.password_enc ? await this.ctx.decrypt(row.password_enc) : undefined,
      };
    if (driverFor(server.engine).embedded) return {}; // files: no login
    return {
      user: server.admin_user ?? undefined,
      password: server.admin_password_enc ? await this.ctx.decrypt(server.admin_password_enc) : undefined,
    };
  }

  /** A driver connection per server record, used only to build tenant configurations. */
  private serverConnection(server: ServerRow): ServerConnection {
    const key = `${server.id}\u0000${server.updated_at}`;
    let connection = this.servers.get(key);
    if (!connection) {
      connection = driverFor(server.engine).connect(specFromRow(server));
      this.servers.set(key, connection);
    }
    return connection;
  }

  private assertOpen(): void {
    if (this.closed) throw new UsageError('this fleet was closed');
  }
}

/**
 * Opens the fleet: reads the registry (and, unless `readOnly`, brings its schema up to date) and
 * checks the secret key against it. Close it with `fleet.close()`.
 */
export async function openFleet(options: FleetOptions): Promise<Fleet> {
  if (!options?.registryUrl) throw new UsageError('openFleet: registryUrl is required');
  const { config } = resolveConfig({
    flags: {
      registryUrl: options.registryUrl,
      secretKey: options.secretKey,
      secretKeyFile: options.secretKeyFile,
      indexedMetadata: options.indexedMetadata,
    },
    env: {},
    cwd: options.cwd ?? process.cwd(),
  });
  const fleet = new Fleet(new AppContext(config, { readOnly: options.readOnly }), options);
  try {
    await fleet.ready();
  } catch (error) {
    await fleet.close();
    throw error;
  }
  return fleet;
}

function positive(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new UsageError(`${name} must be a whole number of at least 1, got ${value}`);
  return value;
}

function nonNegative(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0) throw new UsageError(`${name} must be 0 or more, got ${value}`);
  return value;
}
