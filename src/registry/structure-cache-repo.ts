import type { Knex } from 'knex';
import type { SchemaStructure } from '../engines/schema-structure.js';
import { now } from './tenants-repo.js';

const CACHE = 'tenantctl_structure_cache';
const STRUCTURES = 'tenantctl_structures';
const EXPECTED = 'tenantctl_expected_structures';
/** Rows per statement: within every registry engine's limit on bound parameters. */
const CHUNK = 500;

/** A tenant's structure as last read (see 023-structure-cache). */
export interface CachedStructure {
  tenant_id: number;
  digest: string;
  fingerprint: string;
}

/** The cached structures of these tenants, by tenant id. */
export async function loadStructureCache(knex: Knex, tenantIds: number[]): Promise<Map<number, CachedStructure>> {
  const found = new Map<number, CachedStructure>();
  for (let i = 0; i < tenantIds.length; i += CHUNK) {
    const rows = await knex<CachedStructure>(CACHE)
      .whereIn('tenant_id', tenantIds.slice(i, i + CHUNK))
      .select('tenant_id', 'digest', 'fingerprint');
    for (const row of rows) found.set(Number(row.tenant_id), { ...row, tenant_id: Number(row.tenant_id) });
  }
  return found;
}

/** Records what was read: each tenant's digest and fingerprint, and each new structure once. */
export async function saveStructureCache(
  knex: Knex,
  read: CachedStructure[],
  structures: Map<string, SchemaStructure>,
): Promise<void> {
  const entries = [...structures].map(([fingerprint, structure]) => ({
    fingerprint,
    structure: JSON.stringify(structure),
  }));
  // One structure can be tens of kilobytes: a few per statement.
  for (let i = 0; i < entries.length; i += 20)
    await knex(STRUCTURES)
      .insert(entries.slice(i, i + 20))
      .onConflict('fingerprint')
      .ignore();
  const readAt = now();
  for (let i = 0; i < read.length; i += CHUNK)
    await knex(CACHE)
      .insert(read.slice(i, i + CHUNK).map((r) => ({ ...r, read_at: readAt })))
      .onConflict('tenant_id')
      .merge();
}

/** A structure recorded under its fingerprint, if it is. */
export async function loadStructure(knex: Knex, fingerprint: string): Promise<SchemaStructure | undefined> {
  const row = (await knex(STRUCTURES).where({ fingerprint }).first('structure')) as { structure: string } | undefined;
  return row ? (JSON.parse(row.structure) as SchemaStructure) : undefined;
}

/** The fingerprint a fresh tenant gets for that migration state and server (templateKey), if read before. */
export async function findExpectedFingerprint(knex: Knex, stateKey: string): Promise<string | undefined> {
  const row = (await knex(EXPECTED).where({ state_key: stateKey }).first('fingerprint')) as
    { fingerprint: string } | undefined;
  return row?.fingerprint;
}

export async function saveExpectedFingerprint(knex: Knex, stateKey: string, fingerprint: string): Promise<void> {
  await knex(EXPECTED).insert({ state_key: stateKey, fingerprint, read_at: now() }).onConflict('state_key').merge();
}
