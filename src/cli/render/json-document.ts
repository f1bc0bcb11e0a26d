/**
 * The JSON documents the CLI prints. Every object document carries `schemaVersion`, raised when a
 * field is removed or changes meaning (adding one does not), so scripts can tell. Lists (`list`,
 * `log`, `backups`, `runs`) stay plain arrays of their items, as they have always been printed.
 */
export const JSON_SCHEMA_VERSION = 1;

export function jsonDocument(data: unknown): unknown {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return data;
  // `init` and `registry restore` have said `schemaVersion` (the registry's schema) since before: kept.
  if ('schemaVersion' in data) return data;
  return { schemaVersion: JSON_SCHEMA_VERSION, ...data };
}

/**
 * A result about one tenant (create, update, suspend, reactivate) in the shape `show` prints: the
 * tenant's fields at the top, then the result's own; `tenant` is kept too, for scripts written
 * before the shapes were one.
 */
export function tenantDocument<T extends { tenant: object }>(result: T): T & T['tenant'] {
  return { ...result.tenant, ...result };
}
