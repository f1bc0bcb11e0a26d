import type { Socket } from 'node:net';
import type { Knex } from 'knex';

/**
 * How long a connection tenantctl opens waits on its server. A server that stops answering (a
 * stalled VM, a lost network, every process stopped) keeps its TCP connections open: the kernel
 * still acknowledges, so neither the driver nor TCP keepalive ever notices. Only a deadline on
 * the answer itself does.
 */
export interface SocketDeadlines {
  /**
   * A statement that gets no answer for this long (no byte from the server) drops its connection:
   * the statement fails with a "timed out" network error and the pool discards the connection.
   * Undefined: never (migrations, whose statements may legitimately run for hours; see watch()).
   */
  answerMs?: number;
  /** A close the server does not acknowledge within this long is cut. */
  closeMs: number;
}

/** TCP keepalive on every connection: a peer that vanished from the network is found eventually. */
export const KEEPALIVE_DELAY_MS = 10_000;

/** The error a connection dropped for want of an answer fails with: a network timeout to every caller. */
export function noAnswerError(ms: number): Error {
  return Object.assign(new Error(`the server sent no answer within ${formatSeconds(ms)}: connection dropped`), {
    code: 'ETIMEDOUT',
  });
}

const formatSeconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/** How a driver's raw connection exposes what the guard needs. */
export interface RawConnectionParts {
  socket(connection: unknown): Socket | undefined;
  /** A statement (or the handshake) is waiting for the server. */
  busy(connection: unknown): boolean;
}

interface Guard {
  socket: Socket;
  deadlines: SocketDeadlines;
}

const guards = new WeakMap<object, Guard>();

/**
 * Puts deadlines on a driver's raw connection (called from the pool's afterCreate, so it works
 * with any knex, the project's own included): the socket's inactivity timeout drops a connection
 * whose statement, or close, gets no answer in time.
 */
export function guardConnection(connection: unknown, parts: RawConnectionParts, deadlines: SocketDeadlines): void {
  const socket = parts.socket(connection);
  if (!socket || typeof connection !== 'object' || connection === null) return;
  const guard: Guard = { socket, deadlines };
  guards.set(connection, guard);
  let ending = false;
  socket.setTimeout(deadlines.answerMs ?? 0);
  socket.on('timeout', () => {
    if (ending || parts.busy(connection)) socket.destroy(noAnswerError(socketTimeout(guard, ending)));
  });
  // A close waits for the server's goodbye: bounded too, or a frozen server holds the process.
  // And it is done when the socket is, not when the goodbye was queued (mysql2 calls back
  // before it even writes it): until the server has closed the session it still counts it
  // against max_connections and lists it, and a connection budget must see what the server sees.
  const raw = connection as { end?: (...args: unknown[]) => unknown };
  const end = raw.end;
  if (typeof end === 'function') {
    raw.end = (...args: unknown[]) => {
      ending = true;
      socket.setTimeout(guard.deadlines.closeMs);
      const last = args.length - 1;
      const callback = args[last];
      if (typeof callback === 'function')
        args[last] = (...results: unknown[]) => afterClose(socket, () => callback(...results));
      return end.apply(connection, args);
    };
  }
}

function afterClose(socket: Socket, then: () => void): void {
  if (socket.closed) then();
  else socket.once('close', then);
}

function socketTimeout(guard: Guard, ending: boolean): number {
  return ending ? guard.deadlines.closeMs : (guard.deadlines.answerMs ?? 0);
}

/**
 * Runs `fn` with a longer answer deadline on one guarded connection (a lock wait that may
 * legitimately block for `ms`), then restores it.
 */
export async function withAnswerDeadline<T>(connection: unknown, ms: number, fn: () => Promise<T>): Promise<T> {
  const guard = typeof connection === 'object' && connection !== null ? guards.get(connection) : undefined;
  if (!guard) return fn();
  const before = guard.deadlines;
  guard.deadlines = { ...before, answerMs: ms };
  guard.socket.setTimeout(ms);
  try {
    return await fn();
  } finally {
    guard.deadlines = before;
    if (!guard.socket.destroyed) guard.socket.setTimeout(before.answerMs ?? 0);
  }
}

/** Cuts a guarded connection at once: whatever it was waiting for fails, and the pool discards it. */
export function severConnection(connection: unknown, reason: Error): void {
  const guard = typeof connection === 'object' && connection !== null ? guards.get(connection) : undefined;
  guard?.socket.destroy(reason);
}

/** The parts of knex's pool (tarn) that hold raw connections. */
interface PoolResources {
  used?: Array<{ resource: unknown }>;
  free?: Array<{ resource: unknown }>;
}

/**
 * Cuts every connection of a knex instance (in use or idle) and destroys it without waiting on
 * the server: for a server found not answering, and for a tenant stopped at its deadline.
 */
export function severKnex(knex: Knex, reason: Error): Promise<void> {
  const pool = (knex.client as { pool?: PoolResources }).pool;
  for (const { resource } of [...(pool?.used ?? []), ...(pool?.free ?? [])]) severConnection(resource, reason);
  return knex.destroy().catch(() => undefined);
}
