import type { ErrorDetail } from '../core/errors.js';

/** The fields a driver's error carries beyond its message, as each driver names them. */
const FIELDS = {
  // node-postgres (the server's ErrorResponse fields)
  detail: 'detail',
  hint: 'hint',
  constraint: 'constraint',
  table: 'table',
  column: 'column',
  schema: 'schema',
  where: 'where',
  // mysql2
  sqlState: 'sqlState',
} as const;

/**
 * What the database said beyond the message (PostgreSQL's detail, hint, constraint…; MySQL's
 * SQLSTATE; every driver's code), from the error or the errors it wraps; undefined when none.
 * A migration's failure then says `Key ("firstName")=(X) already exists.`, not only "duplicate key".
 */
export function databaseErrorDetail(error: unknown): ErrorDetail | undefined {
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as Error).cause, depth++) {
    const fields = e as Record<string, unknown>;
    const found: ErrorDetail = {};
    for (const [key, field] of Object.entries(FIELDS)) {
      const value = fields[field];
      if (typeof value === 'string' && value !== '') found[key] = value;
    }
    if (Object.keys(found).length === 0) continue;
    if (typeof fields.code === 'string') found.code = fields.code;
    return found;
  }
  return undefined;
}

/** ` (detail: …; hint: …; constraint: …)` for a message, or '' when the database said none of them. */
export function describeErrorDetail(detail: ErrorDetail | undefined): string {
  const said = (['detail', 'hint', 'constraint'] as const)
    .filter((key) => detail?.[key])
    .map((key) => `${key}: ${detail![key]}`);
  return said.length ? ` (${said.join('; ')})` : '';
}
