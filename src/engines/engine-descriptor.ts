import { UsageError } from '../core/errors.js';
import { unescapedUserinfo } from '../core/url-passwords.js';
import type { Engine, ServerSpec } from './server-spec.js';
import {
  parseTlsParameters,
  tlsParameterMap,
  tlsQuery,
  type TlsParameterNames,
  type TlsSettings,
} from './tls-settings.js';

/**
 * A configuration key naming one of an engine's external tools (`pgDump`, `mysqlClient`, …).
 * configuration lists these from the descriptors, so an engine's tools need no edit elsewhere.
 */
export interface ToolSetting<Key extends string = string> {
  /** The configuration key, e.g. `pgDump`. */
  readonly key: Key;
  /** Its environment variable, e.g. `TENANTCTL_PG_DUMP`. */
  readonly env: string;
  /** Its default: a bare name looked up on PATH; undefined lets the driver pick what is installed. */
  readonly default: string | undefined;
  /** One line for `tenantctl config` and the documentation. */
  readonly description: string;
}

/**
 * What configuration and messages need to know of an engine without loading its driver (knex,
 * native modules): its URL forms and its tool settings. Kept apart from the driver so `--help`
 * and `config` stay fast.
 */
export interface EngineDescriptor {
  readonly engine: Engine;
  /** URL schemes (without `:`) that name this engine. */
  readonly urlSchemes: readonly string[];
  /** How its URLs start, for messages: `postgres://`, `sqlite:`. */
  readonly urlForms: readonly string[];
  /** Parses a URL with one of `urlSchemes`. Throws UsageError, never repeating a password. */
  parseUrl(url: string): ServerSpec;
  /** The URL with a relative path made absolute against `cwd` (files); others unchanged. */
  absoluteUrl(url: string, cwd: string): string;
  /** The spec as stored in the registry and shown to people: no password. */
  describe(spec: ServerSpec): string;
  /** Where the server is, for messages: `host:port`, or a directory. Never credentials. */
  address(spec: ServerSpec): string;
  /** A stable, readable name for a server the configuration names none for. */
  defaultName(spec: ServerSpec): string;
  /**
   * Where an application connects to a tenant's database on the server `spec` names, as the
   * tenant's user (`login`): what `tenantctl url` and `fleet.connectionConfig()` give.
   */
  connectionConfig(spec: ServerSpec, login: TenantLoginDetails): ConnectionConfig;
  /**
   * The URL ORMs and drivers take for it (Prisma, Sequelize, TypeORM, SQLAlchemy, node-postgres,
   * mysql2): `postgresql://…`, `mysql://…`, `file:<path>`; user and password percent-encoded; the
   * password left out when `password` is null.
   */
  connectionUrl(config: ConnectionConfig): string;
  /** The server's TLS settings in this engine's URL words (`{ sslmode: 'verify-full', … }`); null: none set. */
  tlsParameters(spec: ServerSpec): Record<string, string> | null;
  readonly toolSettings: readonly ToolSetting[];
  /**
   * The knex client names of this engine (what a knexfile's `client` may say): a migration sees
   * the knexfile's own name as `knex.client.config.client` when it is one of these, as under the
   * knex CLI.
   */
  readonly knexClients: readonly string[];
}

/** Who an application logs in as on a tenant database: its own user, or (shared credentials) the admin. */
export interface TenantLoginDetails {
  database: string;
  user: string | null;
  password: string | null;
}

/** How an application reaches a tenant database. Files (SQLite): `database` is the file's path, the rest null. */
export interface ConnectionConfig {
  engine: Engine;
  host: string | null;
  port: number | null;
  user: string | null;
  password: string | null;
  database: string;
  /** The server's TLS settings (mode and file paths); null: none set (the driver's default, plain). */
  ssl: TlsSettings | null;
}

/** The shared URL handling of engines reached over the network: `scheme://user:pw@host:port/db`. */
export function networkUrlFormat(
  engine: Engine,
  defaults: { port: number; user: string; appScheme: string; tls: TlsParameterNames },
): Pick<
  EngineDescriptor,
  | 'parseUrl'
  | 'absoluteUrl'
  | 'describe'
  | 'address'
  | 'defaultName'
  | 'connectionConfig'
  | 'connectionUrl'
  | 'tlsParameters'
> {
  return {
    connectionConfig: (spec, login) => ({
      engine,
      host: spec.host ?? '127.0.0.1',
      port: spec.port ?? defaults.port,
      user: login.user,
      password: login.password,
      database: login.database,
      ssl: spec.tls ?? null,
    }),
    connectionUrl(config) {
      const user = config.user === null ? '' : encodeURIComponent(config.user);
      const password = config.password === null ? '' : `:${encodeURIComponent(config.password)}`;
      const host = config.host?.includes(':') ? `[${config.host}]` : config.host;
      const login = user || password ? `${user}${password}@` : '';
      const tls = tlsQuery(config.ssl ?? undefined, defaults.tls);
      return `${defaults.appScheme}://${login}${host}:${config.port}/${encodeURIComponent(config.database)}${tls}`;
    },
    tlsParameters: (spec) => tlsParameterMap(spec.tls, defaults.tls),
    parseUrl(url) {
      // Refused rather than read some other way (an @ in the password taken for the host's side).
      const unescaped = unescapedUserinfo(url);
      if (unescaped) throw new UsageError(unescaped);
      const parsed = parseUrl(url);
      const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || undefined;
      const tls = parseTlsParameters(parsed.searchParams, defaults.tls);
      return {
        engine,
        host: parsed.hostname || '127.0.0.1',
        port: parsed.port ? Number(parsed.port) : defaults.port,
        user: parsed.username ? decodeURIComponent(parsed.username) : defaults.user,
        password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
        database,
        ...(tls ? { tls } : {}),
      };
    },
    absoluteUrl: (url) => url,
    describe: (spec) =>
      `${engine}://${spec.user}@${spec.host}:${spec.port}${spec.database ? `/${spec.database}` : spec.tls ? '/' : ''}${tlsQuery(spec.tls, defaults.tls)}`,
    address: (spec) => `${spec.host}:${spec.port}`,
    defaultName: (spec) => `${engine}-${spec.host}-${spec.port}`,
  };
}

/** new URL, with an error that never repeats the URL (it may hold a password). */
export function parseUrl(url: string): URL {
  try {
    return new URL(url);
  } catch {
    throw new UsageError('a server URL is not a valid URL (expected e.g. postgres://user@host:5432/postgres)');
  }
}
