/** What `list` does with the tenants it read: filter by metadata and creation time, sort, page. */
import { UsageError } from '../../core/errors.js';
import { metadataText } from '../../core/metadata-value.js';
import type { Tenant } from '../../registry/tenants-repo.js';

export type ListSort = 'created' | 'name' | 'plan' | 'size' | 'slug';
export const LIST_SORTS: ListSort[] = ['created', 'name', 'plan', 'size', 'slug'];

export interface TenantListQuery {
  /** Default `slug`. `size` needs `sizes`. */
  sort?: ListSort;
  desc?: boolean;
  /** Metadata entries that must match: the value's text (see metadataText) equals the string given. */
  where?: Record<string, string>;
  /** Only tenants created at or after this time (ISO 8601, a date or a date and time). */
  createdAfter?: string;
  limit?: number;
  offset?: number;
}

/** A `--created-after` value as epoch milliseconds, or a UsageError (exit 2). */
export function parseCreatedAfter(value: string): number {
  const at = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(at))
    throw new UsageError(`--created-after expects a date or time (2026-01-31, 2026-01-31T12:00Z), got "${value}"`);
  return at;
}

/**
 * Filters, sorts and pages `tenants`. Ties and missing values (no plan, no size: a database not
 * found) sort after the rest whatever the direction, then by slug, so pages are stable.
 */
export function queryTenantList(
  tenants: readonly Tenant[],
  query: TenantListQuery,
  sizes?: ReadonlyMap<string, number | null>,
): Tenant[] {
  const after = query.createdAfter === undefined ? undefined : parseCreatedAfter(query.createdAfter);
  const where = Object.entries(query.where ?? {});
  const kept = tenants.filter(
    (t) =>
      (after === undefined || Date.parse(t.createdAt) >= after) &&
      where.every(([key, value]) => metadataText(t.metadata[key]) === value),
  );
  const sort = query.sort ?? 'slug';
  const key = (t: Tenant): string | number | null =>
    sort === 'created'
      ? Date.parse(t.createdAt)
      : sort === 'name'
        ? t.name.toLowerCase()
        : sort === 'plan'
          ? t.plan
          : sort === 'size'
            ? (sizes?.get(t.slug) ?? null)
            : t.slug;
  const direction = query.desc ? -1 : 1;
  const sorted = [...kept].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    if (x === null || y === null) return x === y ? a.slug.localeCompare(b.slug) : x === null ? 1 : -1;
    const order = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    return order * direction || a.slug.localeCompare(b.slug);
  });
  const offset = query.offset ?? 0;
  return sorted.slice(offset, query.limit === undefined ? undefined : offset + query.limit);
}

/** Tenants as CSV (RFC 4180): one header line, then one line per tenant; metadata as JSON. */
export function tenantsCsv(tenants: readonly Tenant[]): string {
  const cell = (value: string | null) => {
    const text = value ?? '';
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const header = ['slug', 'name', 'status', 'server', 'database', 'plan', 'createdAt', 'metadata'];
  const lines = tenants.map((t) =>
    [t.slug, t.name, t.status, t.server, t.database, t.plan, t.createdAt, JSON.stringify(t.metadata)]
      .map(cell)
      .join(','),
  );
  return `${[header.join(','), ...lines].join('\r\n')}\r\n`;
}
