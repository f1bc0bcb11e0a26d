import type { SocketDeadlines } from './connection-guard.js';
import type { ServerSpec } from './server-spec.js';

/** What a connection is for, which decides how long it may wait on its server. */
export type ConnectionUse =
  /** tenantctl's own statements (catalog, registry, counts): bounded by statementTimeout. */
  | 'tenantctl'
  /** Migrations and seeds: unbounded (they may run for hours); --tenant-timeout and the heartbeat bound them. */
  | 'migrations'
  /** The heartbeat: it must answer within the connect timeout. */
  | 'heartbeat'
  /**
   * Session locks (the registry's): no server-side limit, since a lock wait is a statement that
   * blocks on purpose (bounded by its own wait); the answer deadline as for tenantctl's own.
   */
  | 'locks';

/** When no connect timeout is configured (the library's tenant pools): what a close may wait. */
const DEFAULT_CONNECT_MS = 5000;

/**
 * The client-side deadlines of one connection. A statement of tenantctl's own gets the
 * statement timeout plus the connect timeout, so that on a live server the server's own timeout
 * (statement_timeout, max_statement_time) answers first, with its clearer error.
 */
export function socketDeadlines(spec: ServerSpec, use: ConnectionUse): SocketDeadlines {
  const connect = spec.connectTimeoutMs ?? DEFAULT_CONNECT_MS;
  const answerMs =
    use === 'heartbeat'
      ? connect
      : (use === 'tenantctl' || use === 'locks') && spec.statementTimeoutMs
        ? spec.statementTimeoutMs + connect
        : undefined;
  return { answerMs, closeMs: connect };
}

/** The server-side limit of one statement on such a connection, in ms; undefined: none. */
export function statementLimit(spec: ServerSpec, use: ConnectionUse): number | undefined {
  if (use === 'heartbeat') return spec.connectTimeoutMs ?? DEFAULT_CONNECT_MS;
  return use === 'tenantctl' ? spec.statementTimeoutMs : undefined;
}
