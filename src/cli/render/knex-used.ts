import type { KnexUsed } from '../../tenant-schema/project-knex.js';
import type { Output } from '../output.js';

/** `2.5.1 (the project's, /app/node_modules/knex)` or `3.3.0 (tenantctl's own)`, with its note. */
export function describeKnex(out: Output, used: KnexUsed): string {
  const which = used.source === 'project' ? `the project's, ${used.path}` : "tenantctl's own";
  return `${used.version} (${which})${used.note ? out.color.dim(` · ${used.note}`) : ''}`;
}
