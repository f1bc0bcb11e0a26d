import type { Knex } from 'knex';
import { ConflictError, UsageError } from '../core/errors.js';
import { metadataText } from '../core/metadata-value.js';
import { getSetting, putSetting, type Registry } from './registry.js';

const TABLE = 'tenantctl_metadata_index';
/** The keys the index was last built for, so every reader agrees with the last writer. */
const SETTING = 'indexed_metadata';
const MAX_VALUE = 255;

/** The metadata keys the registry indexes (as the last writer configured them); [] before any. */
export async function readIndexedKeys(knex: Knex): Promise<string[]> {
  const stored = await getSetting(knex, SETTING);
  return stored ? (JSON.parse(stored) as string[]) : [];
}

/** The indexed entries of a tenant's metadata, as stored: values as text (scalars only), checked for length. */
export function indexedEntries(keys: readonly string[], metadata: Record<string, unknown>): Array<[string, string]> {
  const entries: Array<[string, string]> = [];
  for (const key of keys) {
    const value = metadata[key];
    if (value === undefined || value === null || value === '') continue;
    const text = metadataText(value);
    if (text === undefined)
      throw new UsageError(`metadata "${key}" is indexed: its value must be a string, number or boolean`);
    if (text.length > MAX_VALUE)
      throw new UsageError(`metadata "${key}" is indexed: its value must be at most ${MAX_VALUE} characters`);
    entries.push([key, text]);
  }
  return entries;
}

/** The tenant id holding `value` under an indexed `key`, if any. */
export async function findIndexedTenantId(knex: Knex, key: string, value: string): Promise<number | undefined> {
  const row = await knex(TABLE).where({ key, value }).first('tenant_id');
  return row ? Number(row.tenant_id) : undefined;
}

/**
 * Refuses metadata whose indexed values another tenant holds (exit 4), before anything changes.
 * `ownId` is the tenant being written, whose own values are no conflict.
 */
export async function assertMetadataAvailable(
  knex: Knex,
  keys: readonly string[],
  metadata: Record<string, unknown>,
  ownId?: number,
): Promise<void> {
  for (const [key, value] of indexedEntries(keys, metadata)) {
    const holder = await knex(`${TABLE} as i`)
      .join('tenantctl_tenants as t', 't.id', 'i.tenant_id')
      .where({ 'i.key': key, 'i.value': value })
      .first('t.id', 't.slug');
    if (holder && Number(holder.id) !== ownId)
      throw new ConflictError(
        `metadata ${key}=${value} already belongs to tenant "${holder.slug}" (${key} is indexed: unique per tenant)`,
      );
  }
}

/**
 * Replaces a tenant's index rows with its current metadata. A value another tenant took in the
 * meantime fails on the primary key and is reported as the conflict it is.
 */
export async function writeMetadataIndex(
  { knex, driver }: Pick<Registry, 'knex' | 'driver'>,
  tenantId: number,
  keys: readonly string[],
  metadata: Record<string, unknown>,
): Promise<void> {
  const entries = indexedEntries(keys, metadata);
  try {
    await knex.transaction(async (trx) => {
      await trx(TABLE).where({ tenant_id: tenantId }).delete();
      if (entries.length) await trx(TABLE).insert(entries.map(([key, value]) => ({ key, value, tenant_id: tenantId })));
    });
  } catch (error) {
    if (driver.isUniqueViolation(error))
      throw new ConflictError(
        `an indexed metadata value (${entries.map(([k, v]) => `${k}=${v}`).join(', ')}) was just taken by another tenant`,
      );
    throw error;
  }
}

/** Frees a tenant's indexed values (it was deleted): another tenant may take them. */
export async function clearMetadataIndex(knex: Knex, tenantId: number): Promise<void> {
  await knex(TABLE).where({ tenant_id: tenantId }).delete();
}

/**
 * Indexes the configured keys the registry does not index yet: every tenant that is not deleted
 * gets its rows (refused, changing nothing, if two share a value). Keys are only ever added, so
 * machines configured differently never undo each other's index. One read when nothing is new.
 */
export async function syncIndexedKeys(knex: Knex, configured: readonly string[]): Promise<void> {
  const current = await readIndexedKeys(knex);
  const added = configured.filter((key) => !current.includes(key));
  if (added.length === 0) return;
  const rows = (await knex('tenantctl_tenants')
    .whereNot({ status: 'deleted' })
    .select('id', 'slug', 'metadata')) as Array<{ id: number; slug: string; metadata: string }>;
  const entries: Array<{ key: string; value: string; tenant_id: number }> = [];
  const holders = new Map<string, string>();
  const clashes: string[] = [];
  for (const row of rows) {
    for (const [key, value] of indexedEntries(added, JSON.parse(row.metadata) as Record<string, unknown>)) {
      const other = holders.get(`${key}=${value}`);
      if (other) clashes.push(`${key}=${value} (tenants "${other}" and "${row.slug}")`);
      holders.set(`${key}=${value}`, row.slug);
      entries.push({ key, value, tenant_id: row.id });
    }
  }
  if (clashes.length)
    throw new ConflictError(
      `cannot index metadata: values shared by several tenants: ${clashes.join(', ')}; make them unique first`,
    );
  try {
    await knex.transaction(async (trx) => {
      await trx(TABLE).whereIn('key', added).delete();
      for (let i = 0; i < entries.length; i += 200) await trx(TABLE).insert(entries.slice(i, i + 200));
      await putSetting(trx, SETTING, JSON.stringify([...current, ...added].sort()));
    });
  } catch (error) {
    // Another first run indexed the same keys at the same moment: its index is as good as ours.
    const now = await readIndexedKeys(knex);
    if (!added.every((key) => now.includes(key))) throw error;
  }
}
