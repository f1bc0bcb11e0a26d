import { UsageError } from '../core/errors.js';

export type Engine = 'postgres' | 'mysql' | 'sqlite';

/** Where a database server is and how to log in to it as its administrator. */
export interface ServerSpec {
  engine: Engine;
  /** Network engines: host, port and admin credentials. */
  host?: string;
  port?: number;
  user?: string;
  password?: string;
  /** The database the admin connection opens (PostgreSQL `postgres` by default). */
  database?: string;
  /** MySQL/MariaDB: host part of tenant accounts, `'user'@'host'`. Default `%`. */
  userHost?: string;
  /** SQLite: the directory holding one file per tenant (or, for the registry, the file). */
  path?: string;
  /** Network engines: how long a connection attempt may take before the server counts as unreachable. */
  connectTimeoutMs?: number;
}

/** Where a server is, for messages: `host:port`, or the SQLite directory. Never credentials. */
export function serverAddress(spec: ServerSpec): string {
  return spec.engine === 'sqlite' ? (spec.path ?? '') : `${spec.host}:${spec.port}`;
}

const DEFAULT_PORTS: Record<Exclude<Engine, 'sqlite'>, number> = { postgres: 5432, mysql: 3306 };

/** Parses `postgres://user:pw@host:port/db`, `mysql://…`, `mariadb://…` or `sqlite:/path`. */
export function parseServerUrl(url: string): ServerSpec {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path) throw new UsageError(`"${url}" names no SQLite path`);
    return { engine: 'sqlite', path };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError('a server URL is not a valid URL (expected e.g. postgres://user@host:5432/postgres)');
  }
  const scheme = parsed.protocol.replace(/:$/, '');
  const engine: Engine | undefined =
    scheme === 'postgres' || scheme === 'postgresql' ? 'postgres' : scheme === 'mysql' || scheme === 'mariadb' ? 'mysql' : undefined;
  if (!engine) throw new UsageError(`unsupported URL scheme "${scheme}:" (use postgres://, mysql://, mariadb:// or sqlite:)`);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || undefined;
  return {
    engine,
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : DEFAULT_PORTS[engine],
    user: parsed.username ? decodeURIComponent(parsed.username) : engine === 'postgres' ? 'postgres' : 'root',
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    database,
  };
}

/** A stable, readable name for a server, used when the configuration names none. */
export function defaultServerName(spec: ServerSpec): string {
  if (spec.engine === 'sqlite') return 'sqlite-local';
  return `${spec.engine}-${spec.host}-${spec.port}`;
}

/** The spec as stored in the registry and shown to people: no password. */
export function describeServer(spec: ServerSpec): string {
  if (spec.engine === 'sqlite') return `sqlite:${spec.path}`;
  return `${spec.engine}://${spec.user}@${spec.host}:${spec.port}${spec.database ? `/${spec.database}` : ''}`;
}
