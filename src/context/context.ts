import type { Config } from '../config/config-keys.js';
import type { ServerUnreachableError } from '../core/errors.js';
import type { ServerConnection } from '../engines/engine-driver.js';
import type { ServerSpec } from '../engines/server-spec.js';
import type { Registry } from '../registry/registry.js';
import type { ServerRow } from '../registry/servers-repo.js';
import type { OperationHooks } from './operation-hooks.js';
import type { LoadedKey } from './secret-key.js';

/** What this run knows about a server: its registry row, spec and open, answering admin connection. */
export interface ServerHandle {
  row: ServerRow;
  spec: ServerSpec;
  connection: ServerConnection;
  /** What the server said it is when it was reached (see ServerConnection.identity), checked against the registry. */
  identity: string;
  /** The server's version string, asked once per run (when it was reached). */
  version(): Promise<string>;
}

/**
 * What every operation takes as its first argument: the configuration, and the registry, the
 * secret key and the servers' admin connections, each opened lazily and once per run, closed by
 * `close()`. Operations read nothing else (never the environment). AppContext is the
 * implementation; `createContext` (src/api/context.ts) builds one from a plain configuration.
 */
export interface Context {
  readonly config: Config;
  readonly options: { readOnly?: boolean };
  /** Where a caller (the test harness) steps into operations as they run; none in normal use. */
  readonly hooks?: OperationHooks;
  registry(): Promise<Registry>;
  /** Whether this run has opened the registry (successfully). */
  registryIsOpen(): Promise<boolean>;
  secretKey(): Promise<LoadedKey>;
  /** Runs `fn` where a key rotation cannot switch keys, with the registry's current key. */
  withSecretWrites<T>(fn: (key: Buffer) => Promise<T>): Promise<T>;
  /** Encrypts `plaintext` and runs `write` with the result under the secret-writes lock; null writes null. */
  withEncrypted<T>(plaintext: string | null | undefined, write: (encrypted: string | null) => Promise<T>): Promise<T>;
  /** Decrypts a stored secret with whichever key opens it; RegistryKeyError when none does. */
  decrypt(stored: string): Promise<string>;
  /** Whether `serverUrl` was configured rather than left at its default. */
  readonly serverUrlConfigured: boolean;
  /** The configured server's spec, parsed without touching anything. */
  defaultServerSpec(): ServerSpec;
  /** The configured server, reached, then recorded or refreshed in the registry. */
  defaultServer(): Promise<ServerHandle>;
  /** Keeps a connection opened elsewhere (server add) as this run's handle for that server. */
  adopt(
    row: ServerRow,
    spec: ServerSpec,
    connection: ServerConnection,
    version: string,
    identity: string,
  ): Promise<ServerHandle>;
  /** Asks a server at once whether it still answers: why it is unreachable, or undefined. */
  unansweredServer(id: number): Promise<ServerUnreachableError | undefined>;
  /** The servers that stopped answering during this run, each with why. */
  lostServers(): Map<number, ServerUnreachableError>;
  /** The key file this run generated, if it did. */
  generatedKeyFile(): Promise<string | undefined>;
  /** A server by registry id, reached once per run (ServerUnreachableError otherwise). */
  server(id: number): Promise<ServerHandle>;
  /** A server by its registry name; NotFoundError when there is none. */
  serverByName(name: string): Promise<ServerHandle>;
  /** The spec of a registered server, its admin password decrypted. */
  specOf(row: ServerRow): Promise<ServerSpec>;
  close(): Promise<void>;
}
