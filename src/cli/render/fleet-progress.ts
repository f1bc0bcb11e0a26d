import type { FleetProgress } from '../../core/fleet-run.js';

/** How a fleet command's spinner words its progress. */
export interface ProgressStyle {
  /** What `done` counts: `tenants` (default), `tenants backed up`… */
  what?: string;
  /** Also the time so far and the rate (migrate-all, rollback --all). */
  timed?: boolean;
}

/** The spinner line of every fleet command: how many done, how many failed, in which wave. */
export function progressLine(p: FleetProgress, { what = 'tenants', timed = false }: ProgressStyle = {}): string {
  const wave = p.wave ? `wave ${p.wave.number}/${p.wave.of} (${p.wave.name}) · ` : '';
  if (p.pauseLeftMs !== undefined)
    return `${wave}starts in ${Math.ceil(p.pauseLeftMs / 1000)}s (--pause) · ${p.done}/${p.total} ${what} · ${p.failed} failed`;
  const counted = `${wave}${p.done}/${p.total} ${what} · ${p.failed} failed`;
  if (!timed) return counted;
  const seconds = p.elapsedMs / 1000;
  const rate = seconds > 0 ? (p.done / seconds).toFixed(1) : '0.0';
  return `${counted} · ${seconds.toFixed(1)}s · ${rate}/s`;
}
