import type { UnreachableServer } from '../../core/fleet-run.js';
import type { Output } from '../output.js';

/** Reasons of a server that answered but is not the one registered (see ServerIdentityError). */
const REFUSED = new Set(['registered twice', 'identity changed', 'identity unknown']);

/** One line per server a fleet command could not reach (or would not use), with what it left out. */
export function renderOutages(out: Output, outages: UnreachableServer[], leftOut: string): string[] {
  return outages.map((o) => {
    const why = REFUSED.has(o.reason) ? `refused: ${o.error}` : `unreachable: ${o.reason}`;
    return `${out.color.red('✖')} server ${out.color.bold(o.server)} (${o.address}) ${why}; ${o.tenants} tenant${o.tenants === 1 ? '' : 's'} ${leftOut}`;
  });
}
