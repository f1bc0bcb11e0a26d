import type { TlsSettings } from './tls-settings.js';
import { descriptorFor, descriptorForUrl, unsupportedUrl } from './descriptors.js';

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
  /** Network engines: how connections use TLS (the URL's `sslmode`… / `ssl-mode`…); unset: plain, as before. */
  tls?: TlsSettings;
  /** Network engines: how long a connection attempt may take before the server counts as unreachable. */
  connectTimeoutMs?: number;
  /**
   * Network engines: the longest one of tenantctl's own statements may run (server-side), and,
   * with `connectTimeoutMs` added, how long a connection waits for any answer before it is
   * dropped (client-side, for a server that stopped answering). Not for migrations. Unset: none.
   */
  statementTimeoutMs?: number;
}

/** Where a server is, for messages: `host:port`, or the SQLite directory. Never credentials. */
export function serverAddress(spec: ServerSpec): string {
  return descriptorFor(spec.engine).address(spec);
}

/** Parses `postgres://user:pw@host:port/db`, `mysql://…`, `mariadb://…` or `sqlite:/path`: whichever engine's descriptor takes the scheme. */
export function parseServerUrl(url: string): ServerSpec {
  const descriptor = descriptorForUrl(url);
  if (!descriptor) unsupportedUrl(url);
  return descriptor.parseUrl(url);
}

/** A stable, readable name for a server, used when the configuration names none. */
export function defaultServerName(spec: ServerSpec): string {
  return descriptorFor(spec.engine).defaultName(spec);
}

/** The spec as stored in the registry and shown to people: no password. */
export function describeServer(spec: ServerSpec): string {
  return descriptorFor(spec.engine).describe(spec);
}
