import type { UnreachableServer } from '../../lifecycle/fleet-servers.js';
import type { Output } from '../output.js';

/** One line per server a fleet command could not reach, with what it left out. */
export function renderOutages(out: Output, outages: UnreachableServer[], leftOut: string): string[] {
  return outages.map(
    (o) =>
      `${out.color.red('✖')} server ${out.color.bold(o.server)} (${o.address}) unreachable: ${o.reason}; ${o.tenants} tenant${o.tenants === 1 ? '' : 's'} ${leftOut}`,
  );
}
