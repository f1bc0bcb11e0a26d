import type { Knex } from 'knex';
import { severKnex } from './connection-guard.js';

/** Heartbeats a server may miss in a row before it counts as lost: one slow answer on a busy machine is not one. */
const MISSES = 2;

/**
 * Whether one server still answers, for everything a run does on it. A server that stops
 * answering in the middle of a run (every process stopped, a VM stalled, the network gone) is
 * found by a heartbeat on a connection of its own — a migration's statement may legitimately run
 * for hours, so its own silence proves nothing — and then declared lost once: `lost` aborts, and
 * every connection registered here is cut, so nothing waits on that server any longer.
 */
export class ServerWatch {
  private readonly controller = new AbortController();
  private readonly held = new Set<Knex>();
  private timer: NodeJS.Timeout | undefined;
  private ping: (() => Promise<unknown>) | undefined;

  /** Aborted, with the reason, once the server is lost. */
  get lost(): AbortSignal {
    return this.controller.signal;
  }

  /** Throws the reason the server was lost, if it was. */
  assertAnswering(): void {
    if (this.lost.aborted) throw this.lost.reason;
  }

  /** Cuts `knex` if the server is lost while it is held; returns the release. */
  hold(knex: Knex): () => void {
    if (this.lost.aborted) void severKnex(knex, this.lost.reason as Error);
    this.held.add(knex);
    return () => this.held.delete(knex);
  }

  /**
   * Asks `ping` every `intervalMs` (ping bounds itself: its connection's answer deadline); after
   * MISSES failures in a row the server is lost. The timer never keeps the process alive.
   */
  start(ping: () => Promise<unknown>, intervalMs: number): void {
    if (this.timer || this.lost.aborted) return;
    this.ping = ping;
    let misses = 0;
    let asking = false;
    this.timer = setInterval(() => {
      if (asking) return;
      asking = true;
      ping().then(
        () => {
          misses = 0;
          asking = false;
        },
        (error: unknown) => {
          asking = false;
          if (++misses >= MISSES) this.abandon(error instanceof Error ? error : new Error(String(error)));
        },
      );
    }, intervalMs);
    this.timer.unref();
  }

  /**
   * Asks at once whether the server still answers (after a failure that may be its fault): MISSES
   * heartbeats in a row without an answer, and it is lost. Resolves whether it answers.
   */
  async confirm(): Promise<boolean> {
    if (this.lost.aborted) return false;
    if (!this.ping) return true;
    // Lost meanwhile (by the heartbeat itself): no need to wait for this ping's own deadline.
    let onLost: () => void = () => {};
    const lost = new Promise<'lost'>((resolve) => (onLost = () => resolve('lost')));
    this.lost.addEventListener('abort', onLost, { once: true });
    let last: unknown;
    try {
      for (let miss = 0; miss < MISSES; miss++) {
        try {
          return (await Promise.race([this.ping(), lost])) !== 'lost';
        } catch (error) {
          last = error;
        }
      }
    } finally {
      this.lost.removeEventListener('abort', onLost);
    }
    this.abandon(last instanceof Error ? last : new Error(String(last)));
    return false;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Declares the server lost: aborts `lost` with `reason` and cuts every held connection. */
  abandon(reason: Error): void {
    if (this.lost.aborted) return;
    this.stop();
    this.controller.abort(reason);
    for (const knex of this.held) void severKnex(knex, reason);
    this.held.clear();
  }
}
