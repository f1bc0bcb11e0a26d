import type { Config } from '../config/config-keys.js';
import { decryptSecret, encryptSecret } from '../core/secrets.js';
import { NotFoundError } from '../core/errors.js';
import type { ServerConnection } from '../engines/engine-driver.js';
import { driverFor } from '../engines/drivers.js';
import { defaultServerName, parseServerUrl, type ServerSpec } from '../engines/server-spec.js';
import { openRegistry, type Registry } from '../registry/registry.js';
import { syncIndexedKeys } from '../registry/metadata-index-repo.js';
import { findServerRow, specFromRow, upsertServerRow, type ServerRow } from '../registry/servers-repo.js';
import { loadSecretKey, type LoadedKey } from './secret-key.js';

/** What this run knows about a server: its registry row, spec and open admin connection. */
export interface ServerHandle {
  row: ServerRow;
  spec: ServerSpec;
  connection: ServerConnection;
  /** The server's version string, asked once per run. */
  version(): Promise<string>;
}

function handle(row: ServerRow, spec: ServerSpec, connection: ServerConnection, known?: string): ServerHandle {
  let version: Promise<string> | undefined = known === undefined ? undefined : Promise.resolve(known);
  return { row, spec, connection, version: () => (version ??= connection.ping()) };
}

/**
 * Everything an operation needs, opened lazily and closed once: the registry, the secret key and
 * one admin connection per server. Operations receive it; they never read the environment.
 */
export class AppContext {
  private registryPromise?: Promise<Registry>;
  private keyPromise?: Promise<LoadedKey>;
  private readonly servers = new Map<number, Promise<ServerHandle>>();

  /**
   * `readOnly`: never write to the registry (no schema migration, no key generation, no
   * indexing of newly configured metadata keys), for applications that only read it.
   */
  constructor(readonly config: Config, readonly options: { readOnly?: boolean } = {}) {}

  registry(): Promise<Registry> {
    this.registryPromise ??= openRegistry(this.config.registryUrl, { migrate: !this.options.readOnly }).then(async (registry) => {
      if (this.options.readOnly || this.config.indexedMetadata.length === 0) return registry;
      await syncIndexedKeys(registry.knex, this.config.indexedMetadata).catch(async (error) => {
        await registry.close();
        throw error;
      });
      return registry;
    });
    return this.registryPromise;
  }

  /** Whether this run has opened the registry (successfully). */
  async registryIsOpen(): Promise<boolean> {
    return this.registryPromise ? this.registryPromise.then(() => true, () => false) : false;
  }

  secretKey(): Promise<LoadedKey> {
    this.keyPromise ??= this.registry().then((registry) => loadSecretKey(this.config, registry, this.options));
    return this.keyPromise;
  }

  async encrypt(plaintext: string): Promise<string> {
    return encryptSecret(plaintext, (await this.secretKey()).key);
  }

  async decrypt(stored: string): Promise<string> {
    return decryptSecret(stored, (await this.secretKey()).key);
  }

  /** The configured server's spec, parsed without touching anything. */
  defaultServerSpec(): ServerSpec {
    return { ...parseServerUrl(this.config.serverUrl), userHost: this.config.mysqlUserHost };
  }

  /**
   * The configured server for new tenants: reached first (an unreachable server records
   * nothing), then recorded, or refreshed, in the registry.
   */
  async defaultServer(): Promise<ServerHandle> {
    const spec = this.defaultServerSpec();
    const connection = driverFor(spec.engine).connect(spec);
    let version: string;
    try {
      version = await connection.ping();
    } catch (error) {
      await connection.close();
      throw error;
    }
    const registry = await this.registry();
    const encrypted = spec.password ? await this.encrypt(spec.password) : null;
    const row = await upsertServerRow(registry.knex, this.config.serverName ?? defaultServerName(spec), spec, encrypted);
    const existing = this.servers.get(row.id);
    if (existing) {
      await connection.close();
      return existing;
    }
    const opened = handle(row, spec, connection, version);
    this.servers.set(row.id, Promise.resolve(opened));
    return opened;
  }

  /** The key file this run generated, if it did, so the CLI can say so. */
  async generatedKeyFile(): Promise<string | undefined> {
    return this.keyPromise ? (await this.keyPromise.catch(() => undefined))?.generatedFile : undefined;
  }

  /** A server by registry id, with its admin connection opened once per run. */
  server(id: number): Promise<ServerHandle> {
    let handle = this.servers.get(id);
    if (!handle) {
      handle = this.openServer(id);
      this.servers.set(id, handle);
      handle.catch(() => this.servers.delete(id));
    }
    return handle;
  }

  private async openServer(id: number): Promise<ServerHandle> {
    const registry = await this.registry();
    const row = await findServerRow(registry.knex, { id });
    if (!row) throw new NotFoundError(`server #${id} is not in the registry`);
    const spec = specFromRow(row, row.admin_password_enc ? await this.decrypt(row.admin_password_enc) : undefined);
    return handle(row, spec, driverFor(spec.engine).connect(spec));
  }

  async close(): Promise<void> {
    const handles = await Promise.allSettled(this.servers.values());
    for (const h of handles) if (h.status === 'fulfilled') await h.value.connection.close();
    if (this.registryPromise) await (await this.registryPromise.catch(() => undefined))?.close();
  }
}

/** Runs `fn` with a context and always closes it. */
export async function withContext<T>(config: Config, fn: (ctx: AppContext) => Promise<T>): Promise<T> {
  const ctx = new AppContext(config);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}
