import type { Config } from '../config/config-keys.js';
import { encryptSecret } from '../core/secrets.js';
import { KeyRing } from './key-ring.js';
import { NotFoundError, ServerUnreachableError, UsageError, networkReason } from '../core/errors.js';
import type { EngineDriver, ServerConnection } from '../engines/engine-driver.js';
import { driverFor } from '../engines/drivers.js';
import { connectFailure } from '../engines/connect-failure.js';
import { DEFAULT_URLS } from '../engines/descriptors.js';
import { defaultServerName, parseServerUrl, serverAddress, type ServerSpec } from '../engines/server-spec.js';
import { openRegistry, type Registry } from '../registry/registry.js';
import { syncIndexedKeys } from '../registry/metadata-index-repo.js';
import {
  findServerByIdentity,
  findServerRow,
  specFromRow,
  updateServerRow,
  upsertServerRow,
  type ServerRow,
} from '../registry/servers-repo.js';
import { readIdentity, registeredTwice, verifyServerIdentity } from './server-identity.js';
import { loadSecretKey, withSecretWrites, type LoadedKey } from './secret-key.js';
import type { Context, ServerHandle } from './context.js';
import type { OperationHooks } from './operation-hooks.js';

export type { Context, ServerHandle } from './context.js';
import { parseDuration } from '../core/duration.js';

/**
 * Opens a server's admin connection and asks its version, within the configured connect timeout.
 * A server that does not answer (or refuses the login) throws ServerUnreachableError naming it.
 */
export async function reachServer(
  name: string,
  spec: ServerSpec,
): Promise<{ connection: ServerConnection; version: string }> {
  const driver = driverFor(spec.engine);
  const connection = driver.connect(spec);
  try {
    return { connection, version: await connection.ping() };
  } catch (error) {
    await connection.close().catch(() => undefined);
    throw unreachable(name, spec, driver, error);
  }
}

function unreachable(name: string, spec: ServerSpec, driver: EngineDriver, error: unknown): ServerUnreachableError {
  const cause = (error as { cause?: unknown }).cause ?? error;
  const { reason, detail } = connectFailure(driver, spec, cause, name);
  return new ServerUnreachableError(name, serverAddress(spec), reason, cause, detail);
}

/**
 * Everything an operation needs, opened lazily and closed once: the registry, the secret key and
 * one admin connection per server. Operations receive it; they never read the environment. A
 * server that could not be reached stays unreachable for the rest of the run, so a fleet command
 * pays its connect timeout once, not once per tenant.
 */
export class AppContext implements Context {
  private registryPromise?: Promise<Registry>;
  private keyPromise?: Promise<LoadedKey>;
  private ringPromise?: Promise<KeyRing>;
  private readonly servers = new Map<number, Promise<ServerHandle>>();
  /** Every server connection this run opened, lost ones included, closed by close(). */
  private readonly opened = new Set<ServerConnection>();
  /** Servers that stopped answering during this run, by registry id. */
  private readonly lost = new Map<number, ServerUnreachableError>();

  /**
   * `readOnly`: never write to the registry (no schema migration, no key generation, no
   * indexing of newly configured metadata keys), for applications that only read it.
   * `hooks`: see OperationHooks (the test harness's kill points); none by default.
   */
  constructor(
    readonly config: Config,
    readonly options: { readOnly?: boolean; hooks?: OperationHooks } = {},
  ) {}

  get hooks(): OperationHooks | undefined {
    return this.options.hooks;
  }

  registry(): Promise<Registry> {
    this.registryPromise ??= openRegistry(this.config.registryUrl, {
      migrate: !this.options.readOnly,
      ...this.timeouts(),
    }).then(async (registry) => {
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
    return this.registryPromise
      ? this.registryPromise.then(
          () => true,
          () => false,
        )
      : false;
  }

  secretKey(): Promise<LoadedKey> {
    this.keyPromise ??= this.registry().then((registry) => loadSecretKey(this.config, registry, this.options));
    return this.keyPromise;
  }

  /** The keys this run can decrypt with: the configured one, and any a rotation gave the key file since. */
  private keyRing(): Promise<KeyRing> {
    this.ringPromise ??= this.secretKey().then((loaded) => new KeyRing(loaded.key, this.config.secretKeyFile));
    return this.ringPromise;
  }

  /**
   * Runs `fn` where a key rotation cannot switch keys (see withSecretWrites): rotate-key's switch,
   * and every write of a secret (withEncrypted). `fn` gets the registry's current key: the
   * configured one, or the one a rotation since put in the key file (a long-running process
   * follows the rotation); a run holding neither is refused and writes nothing.
   */
  async withSecretWrites<T>(fn: (key: Buffer) => Promise<T>): Promise<T> {
    const [ring, loaded] = [await this.keyRing(), await this.secretKey()];
    // A registry that has recorded no key yet takes this run's.
    const keyFor = (fingerprint: string | undefined) => (fingerprint ? ring.keyFor(fingerprint) : loaded.key);
    return withSecretWrites(await this.registry(), keyFor, fn);
  }

  /**
   * Encrypts `plaintext` and runs `write` with the result, under the secret-writes lock so that
   * what is stored is never under a key rotated away meanwhile. Nothing to encrypt (null): runs
   * `write(null)` at once, without the lock or the key.
   */
  async withEncrypted<T>(
    plaintext: string | null | undefined,
    write: (encrypted: string | null) => Promise<T>,
  ): Promise<T> {
    if (plaintext === null || plaintext === undefined) return write(null);
    return this.withSecretWrites(async (key) => write(encryptSecret(plaintext, key)));
  }

  /** Decrypts a stored secret with whichever key opens it; RegistryKeyError when none this run holds does. */
  async decrypt(stored: string): Promise<string> {
    return (await this.keyRing()).decrypt(stored);
  }

  /** Whether `serverUrl` was configured (flag, environment or file) rather than left at its default. */
  get serverUrlConfigured(): boolean {
    return this.config.serverUrl !== DEFAULT_URLS.serverUrl(this.config.home);
  }

  /** The configured server's spec, parsed without touching anything. */
  defaultServerSpec(): ServerSpec {
    return this.withTimeout({ ...parseServerUrl(this.config.serverUrl), userHost: this.config.mysqlUserHost });
  }

  private withTimeout(spec: ServerSpec): ServerSpec {
    return { ...spec, ...this.timeouts() };
  }

  /** The configured timeouts, as a spec carries them. */
  private timeouts(): Pick<ServerSpec, 'connectTimeoutMs' | 'statementTimeoutMs'> {
    return {
      connectTimeoutMs: this.config.connectTimeout * 1000,
      statementTimeoutMs: parseDuration(this.config.statementTimeout, 'statementTimeout'),
    };
  }

  /**
   * The configured server (`serverUrl`): reached first (an unreachable server records nothing),
   * then recorded, or refreshed, in the registry under `serverName` or a name from its URL. A
   * server already registered under another name is that one (its credentials refreshed), unless
   * `serverName` gives a name of its own: a second name for one server is refused.
   */
  async defaultServer(): Promise<ServerHandle> {
    const spec = this.defaultServerSpec();
    let name = this.config.serverName ?? defaultServerName(spec);
    const refused = spec.password ? driverFor(spec.engine).refusedPassword(spec.password) : undefined;
    if (refused) throw new UsageError(`serverUrl: the admin password cannot be used: ${refused}`);
    const { connection, version } = await reachServer(name, spec);
    let row: ServerRow;
    let identity: string;
    try {
      const registry = await this.registry();
      identity = await readIdentity(name, serverAddress(spec), connection);
      const existing = await findServerRow(registry.knex, { name });
      if (!existing?.identity || existing.status === 'removed') {
        const holder = await findServerByIdentity(registry.knex, identity);
        if (holder && holder.name !== name) {
          if (this.config.serverName !== undefined) throw registeredTwice(name, serverAddress(spec), holder, false);
          name = holder.name;
        }
      }
      const current = await findServerRow(registry.knex, { name });
      // A different server at a registered name keeps the registered credentials until confirmed.
      if (current?.identity && current.identity !== identity && current.status !== 'removed')
        await verifyServerIdentity(registry.knex, registry.driver, current, identity);
      const { connectTimeoutMs: _, statementTimeoutMs: __, ...stored } = spec;
      row = await this.withEncrypted(spec.password, (encryptedPassword) =>
        upsertServerRow(registry.knex, name, { spec: stored, encryptedPassword }, { version }),
      );
      await verifyServerIdentity(registry.knex, registry.driver, row, identity);
    } catch (error) {
      await connection.close(); // not adopted: nothing else would close it
      throw error;
    }
    return this.adopt({ ...row, identity }, spec, connection, version, identity);
  }

  /** Keeps a connection opened elsewhere (server add) as this run's handle for that server. */
  async adopt(
    row: ServerRow,
    spec: ServerSpec,
    connection: ServerConnection,
    version: string,
    identity: string,
  ): Promise<ServerHandle> {
    const existing = this.servers.get(row.id);
    if (existing) {
      const kept = await existing.catch(() => undefined);
      if (kept) {
        await connection.close();
        return kept;
      }
    }
    const opened: ServerHandle = { row, spec, connection, identity, version: async () => version };
    this.servers.set(row.id, Promise.resolve(opened));
    this.watch(row, spec, connection);
    return opened;
  }

  /**
   * Watches a server for the rest of the run (a heartbeat every connectTimeout): once it stops
   * answering, everything in flight on it is cut (see ServerConnection.abandon) and it is
   * unreachable for the rest of the run, which notices that once, not once per tenant.
   */
  private watch(row: ServerRow, spec: ServerSpec, connection: ServerConnection): void {
    this.opened.add(connection);
    connection.lost.addEventListener(
      'abort',
      () => {
        const reason = connection.lost.reason as Error;
        const error = new ServerUnreachableError(
          row.name,
          serverAddress(spec),
          networkReason(reason) ?? 'timed out',
          new Error(`it stopped answering during this run: ${reason.message}`, { cause: reason }),
        );
        this.lost.set(row.id, error);
        const refused = Promise.reject(error);
        refused.catch(() => undefined);
        this.servers.set(row.id, refused);
      },
      { once: true },
    );
    connection.watch(this.config.connectTimeout * 1000);
  }

  /**
   * After a failure that may be the server's (a cut connection, a failed rollback): asks it at
   * once whether it still answers. Returns why it is unreachable when it does not (it is then
   * lost for the rest of the run), undefined when it answers.
   */
  async unansweredServer(id: number): Promise<ServerUnreachableError | undefined> {
    const handle = await this.servers.get(id)?.catch(() => undefined);
    if (handle) await handle.connection.confirmAnswering();
    return this.lost.get(id);
  }

  /** The servers that stopped answering during this run, each with why. */
  lostServers(): Map<number, ServerUnreachableError> {
    return new Map(this.lost);
  }

  /** The key file this run generated, if it did, so the CLI can say so. */
  async generatedKeyFile(): Promise<string | undefined> {
    return this.keyPromise ? (await this.keyPromise.catch(() => undefined))?.generatedFile : undefined;
  }

  /**
   * A server by registry id, reached once per run: its admin connection answers and the server is
   * the one registered (see verifyServerIdentity), or this throws ServerUnreachableError — a
   * ServerIdentityError for the latter — and keeps throwing it for the rest of the run without
   * trying again.
   */
  server(id: number): Promise<ServerHandle> {
    let handle = this.servers.get(id);
    if (!handle) {
      handle = this.openServer(id);
      this.servers.set(id, handle);
      // A registry problem is not the server's: only unreachability is remembered.
      handle.catch((error) => {
        if (!(error instanceof ServerUnreachableError)) this.servers.delete(id);
      });
    }
    return handle;
  }

  /** A server by its registry name; NotFoundError when there is none (or it was removed). */
  async serverByName(name: string): Promise<ServerHandle> {
    const row = await findServerRow((await this.registry()).knex, { name });
    if (!row || row.status === 'removed')
      throw new NotFoundError(`no server "${name}" in the registry (see: tenantctl server list)`);
    return this.server(row.id);
  }

  /** The spec of a registered server, its admin password decrypted. */
  async specOf(row: ServerRow): Promise<ServerSpec> {
    return this.withTimeout(
      specFromRow(row, row.admin_password_enc ? await this.decrypt(row.admin_password_enc) : undefined),
    );
  }

  private async openServer(id: number): Promise<ServerHandle> {
    const registry = await this.registry();
    const row = await findServerRow(registry.knex, { id });
    if (!row) throw new NotFoundError(`server #${id} is not in the registry`);
    const spec = await this.specOf(row);
    const { connection, version } = await reachServer(row.name, spec);
    let identity: string;
    try {
      identity = await readIdentity(row.name, serverAddress(spec), connection);
      await verifyServerIdentity(registry.knex, registry.driver, row, identity, { readOnly: this.options.readOnly });
    } catch (error) {
      await connection.close();
      throw error;
    }
    this.watch(row, spec, connection);
    if (row.version !== version) await updateServerRow(registry.knex, row.id, { version }).catch(() => undefined);
    return { row: { ...row, identity }, spec, connection, identity, version: async () => version };
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.servers.values());
    for (const connection of this.opened) await connection.close();
    if (this.registryPromise) await (await this.registryPromise.catch(() => undefined))?.close();
  }
}

/** Runs `fn` with a context and always closes it. */
export async function withContext<T>(config: Config, fn: (ctx: Context) => Promise<T>): Promise<T> {
  const ctx = new AppContext(config);
  try {
    return await fn(ctx);
  } finally {
    await ctx.close();
  }
}
