import type { Context } from '../../context/context.js';
import { UsageError, errorMessage } from '../../core/errors.js';
import { ignoreProgress, progressCounter, type FleetProgress } from '../../core/fleet-run.js';
import { runPool } from '../../core/run-pool.js';
import { structureFingerprint, type SchemaStructure } from '../../engines/schema-structure.js';
import {
  findExpectedFingerprint,
  loadStructure,
  loadStructureCache,
  saveExpectedFingerprint,
  saveStructureCache,
  type CachedStructure,
} from '../../registry/structure-cache-repo.js';
import type { TenantWithServer } from '../../registry/tenants-repo.js';
import { tenantProject, assertProjectDirectories } from '../../tenant-schema/tenant-project.js';
import { templateKey } from '../templates/template-key.js';
import { isOutage, outageMessage, reachFleet, serverLimit } from '../shared/fleet-servers.js';
import { selectTenants, type TenantSelection } from '../shared/select-tenants.js';
import { assertTenantCodeTrusted, tenantLogin } from '../shared/tenant-login.js';
import { scratchStructure } from './scratch-reference.js';
import { describeDifference, diffStructures, type StructureDifference } from './structure-diff.js';

export interface SchemaDiffOptions extends TenantSelection {
  /** The tenant whose structure is the expected one; default: a fresh scratch database per server. */
  reference?: string;
  concurrency: number;
  /**
   * false: read every structure afresh (and record it) instead of trusting what was read under
   * the same catalog digest, and build the scratch database even for a migration state seen before.
   */
  cache?: boolean;
}

/**
 * Which cached fingerprints still hold: bumped whenever how a structure is read or normalised
 * changes, so that a new tenantctl never trusts what an older one made of a catalog.
 */
const DIGEST_VERSION = 's1';

/** A group of tenants with the same structure (the same fingerprint). */
export interface SchemaVariant {
  /** `A`, `B`, …: the expected one first, then by size. */
  name: string;
  fingerprint: string;
  /** It is the structure expected (a fresh tenant's, or the reference's). */
  expected: boolean;
  count: number;
  tenants: string[];
  /** How it differs from the expected structure (empty for the expected one). */
  differences: StructureDifference[];
  /** The differences, one readable line each. */
  summary: string[];
  /** `--sql`: statements bringing it to the expected structure where simple and safe; the rest by hand. */
  fixes: string[];
  byHand: string[];
}

export interface SchemaDiffResult {
  /** One variant, the expected one: no drift. */
  ok: boolean;
  total: number;
  /** What the expected structure is: `scratch` (a fresh tenant on each server) or the reference tenant. */
  expectedFrom: { kind: 'scratch' } | { kind: 'reference'; slug: string };
  expectedFingerprint: string[];
  variants: SchemaVariant[];
  /** Tenants whose structure could not be read, and why. */
  unread: Array<{ slug: string; server: string; outcome: 'failed' | 'unreachable'; error: string }>;
  /**
   * `cached`: tenants whose catalog digest was the one recorded with their structure (one query
   * each); `read`: tenants whose structure was read in full. `expectedCached`: servers whose
   * fresh-tenant structure was known for this migration state (no scratch database built).
   */
  cache: { cached: number; read: number; expectedCached: number };
  durationMs: number;
}

/**
 * Reads each selected tenant's structure as the tenant's own user (DatabaseInspection
 * .readStructure), each server within its limit, fingerprints it, and groups the fleet into
 * variants by fingerprint; each variant is compared with the expected structure: a fresh tenant's,
 * built in a scratch database on the tenant's server and dropped after, or `reference`'s. Reads
 * only: nothing of a tenant's is changed (the fixes are printed, never run).
 *
 * What was read is recorded in the registry (023-structure-cache): a tenant whose catalog digest
 * (one query) is the one recorded with its fingerprint is not read again, and a fresh tenant's
 * structure is built once per migration state and server version.
 */
export async function schemaDiff(
  ctx: Context,
  options: SchemaDiffOptions,
  onProgress: (progress: FleetProgress) => void = ignoreProgress,
): Promise<SchemaDiffResult> {
  const started = Date.now();
  const tenants = await selectTenants(ctx, options, 'schema diff');
  await assertTenantCodeTrusted(ctx, tenants, 'schema diff');
  const fleet = await reachFleet(ctx, tenants);
  const unread: SchemaDiffResult['unread'] = fleet.unreachable.map(({ tenant, error }) => ({
    slug: tenant.slug,
    server: tenant.server_name,
    outcome: 'unreachable' as const,
    error: error.message,
  }));
  const registry = await ctx.registry();
  const useCache = options.cache !== false;
  let expectedCached = 0;
  // The expected structure: per server (engines differ), or the reference tenant's for all.
  const expected = new Map<number, SchemaStructure>();
  let referenceStructure: SchemaStructure | undefined;
  if (options.reference) {
    const [ref] = await selectTenants(ctx, { slugs: [options.reference] }, 'schema diff');
    if (!ref) throw new UsageError(`--reference ${options.reference}: no such tenant`);
    await assertTenantCodeTrusted(ctx, [ref], 'schema diff');
    referenceStructure = await readTenant(ctx, ref);
  } else {
    const project = await tenantProject(ctx);
    assertProjectDirectories(project, { migrations: true, seeds: false });
    for (const serverId of new Set(fleet.reachable.map((t) => t.server_id))) {
      // A fresh tenant's structure depends on the migration state and the server's version only
      // (the schema template's key): read once per key, in a scratch database.
      const { key } = await templateKey(ctx, await ctx.server(serverId));
      const known = useCache ? await findExpectedFingerprint(registry.knex, key) : undefined;
      const structure = known ? await loadStructure(registry.knex, known) : undefined;
      if (structure) {
        expectedCached++;
        expected.set(serverId, structure);
        continue;
      }
      const scratch = await scratchStructure(ctx, serverId, project);
      const fingerprint = structureFingerprint(scratch);
      await saveStructureCache(registry.knex, [], new Map([[fingerprint, scratch]]));
      await saveExpectedFingerprint(registry.knex, key, fingerprint);
      expected.set(serverId, scratch);
    }
  }
  const expectedOf = (t: TenantWithServer) => referenceStructure ?? expected.get(t.server_id)!;
  const groups = new Map<string, { structure?: SchemaStructure; sample: TenantWithServer; tenants: string[] }>();
  const cached = useCache
    ? await loadStructureCache(
        registry.knex,
        fleet.reachable.map((t) => t.id),
      )
    : new Map<number, CachedStructure>();
  const recorded: CachedStructure[] = [];
  let hits = 0;
  const structures = new Map<string, SchemaStructure>();
  const progress = progressCounter(tenants.length, onProgress, started);
  for (const _ of unread) progress(true);
  await runPool(
    fleet.reachable,
    options.concurrency,
    async (tenant) => {
      try {
        const server = await ctx.server(tenant.server_id);
        const login = tenantLogin(ctx, server, tenant);
        // The digest first: a change made between the two reads is seen by the next run.
        const digest = `${DIGEST_VERSION}:${await server.connection.structureDigest(login)}`;
        const hit = cached.get(tenant.id);
        let fingerprint: string;
        if (hit?.digest === digest) {
          fingerprint = hit.fingerprint;
          hits++;
        } else {
          const structure = await server.connection.readStructure(login);
          fingerprint = structureFingerprint(structure);
          recorded.push({ tenant_id: tenant.id, digest, fingerprint });
          if (!structures.has(fingerprint)) structures.set(fingerprint, structure);
        }
        const group = groups.get(fingerprint) ?? { sample: tenant, tenants: [] };
        group.structure ??= structures.get(fingerprint);
        group.tenants.push(tenant.slug);
        groups.set(fingerprint, group);
        progress(false);
      } catch (error) {
        const lost = isOutage(error) && (await ctx.unansweredServer(tenant.server_id));
        unread.push({
          slug: tenant.slug,
          server: tenant.server_name,
          outcome: lost ? 'unreachable' : 'failed',
          error: lost ? outageMessage(tenant, error) : errorMessage(error),
        });
        progress(true);
      }
    },
    { keyOf: (t) => t.server_id, limitOf: serverLimit(ctx, tenants, options.concurrency) },
  );
  await saveStructureCache(registry.knex, recorded, structures);
  // A variant all of whose tenants were known by digest: its structure as recorded (or read again
  // from one of them, should the record be gone).
  for (const [fingerprint, group] of groups)
    group.structure ??= (await loadStructure(registry.knex, fingerprint)) ?? (await readTenant(ctx, group.sample));
  const expectedPrints = new Set(
    [...(referenceStructure ? [referenceStructure] : expected.values())].map((s) => structureFingerprint(s)),
  );
  const variants = await Promise.all(
    [...groups.entries()].map(async ([fingerprint, group]) => {
      const server = await ctx.server(group.sample.server_id);
      const differences = diffStructures(expectedOf(group.sample), group.structure!, server.connection.driver);
      const isExpected = expectedPrints.has(fingerprint) && differences.length === 0;
      return {
        name: '',
        fingerprint,
        expected: isExpected,
        count: group.tenants.length,
        tenants: group.tenants.sort(),
        differences,
        summary: differences.map(describeDifference),
        fixes: differences.flatMap((d) => (d.fix ? [d.fix] : [])),
        byHand: differences.filter((d) => !d.fix).map(describeDifference),
      } satisfies SchemaVariant;
    }),
  );
  variants.sort(
    (a, b) =>
      Number(b.expected) - Number(a.expected) || b.count - a.count || a.fingerprint.localeCompare(b.fingerprint),
  );
  variants.forEach((v, i) => (v.name = variantName(i)));
  return {
    ok: unread.length === 0 && variants.every((v) => v.expected),
    total: tenants.length,
    expectedFrom: options.reference ? { kind: 'reference', slug: options.reference } : { kind: 'scratch' },
    expectedFingerprint: [...expectedPrints],
    variants,
    unread,
    cache: { cached: hits, read: recorded.length, expectedCached },
    durationMs: Date.now() - started,
  };
}

async function readTenant(ctx: Context, tenant: TenantWithServer): Promise<SchemaStructure> {
  const server = await ctx.server(tenant.server_id);
  return server.connection.readStructure(tenantLogin(ctx, server, tenant));
}

/** A, B, … Z, AA, AB, … */
function variantName(i: number): string {
  return i < 26
    ? String.fromCharCode(65 + i)
    : variantName(Math.floor(i / 26) - 1) + String.fromCharCode(65 + (i % 26));
}
