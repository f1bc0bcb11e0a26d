import type { Context } from '../../context/context.js';
import { TamperedTableError } from '../../core/errors.js';
import { latestOutcomes } from '../../registry/runs-repo.js';
import { tenantProject } from '../../tenant-schema/tenant-project.js';
import { planMigrations } from '../../tenant-schema/run-migrations.js';
import { readAppliedInBulk } from './applied-in-bulk.js';
import { selectTenants, type TenantSelection } from '../shared/select-tenants.js';
import type { UnreachableServer } from '../../core/fleet-run.js';
import { reachFleet } from '../shared/fleet-servers.js';

export interface TenantMigrationStatus {
  slug: string;
  server: string;
  status: string;
  /** How many migrations are applied; null where the database has no migration table. */
  applied: number | null;
  /** The last applied migration. */
  latest: string | null;
  pending: string[];
  /** Applied migrations no longer in the migrations directory. */
  unknown: string[];
  /** This tenant's outcome in the last migrate run that included it. */
  lastRun: { runId: number; outcome: string; at: string; error: string | null } | null;
  /** False when the tenant's server could not be reached: what it has applied is unknown. */
  reachable: boolean;
  /**
   * Why what it applied is unknown though its server answered: its migration table is not a plain
   * table (tampered with).
   */
  error?: string;
}

export interface MigrationStatusResult {
  available: string[];
  tenants: TenantMigrationStatus[];
  summary: {
    total: number;
    upToDate: number;
    withPending: number;
    failedLastRun: number;
    /** How many tenants stand at each latest migration, newest first. */
    byLatest: Array<{ migration: string | null; tenants: number }>;
    /** Tenants whose server could not be reached. */
    unknown: number;
    /** Tenants whose migration table is not a plain table (tampered with): not read, so unknown too. */
    tampered: number;
  };
  /** Servers that could not be reached: what their tenants have applied is unknown. */
  unreachableServers: UnreachableServer[];
}

/** Applied and pending migrations of every selected tenant, read in bulk per server. */
export async function migrationStatus(
  ctx: Context,
  selection: TenantSelection,
  concurrency: number,
): Promise<MigrationStatusResult> {
  const available = (await tenantProject(ctx)).source().list();
  const tenants = await selectTenants(ctx, selection, 'migrate');
  const registry = await ctx.registry();
  const fleet = await reachFleet(ctx, tenants);
  const [applied, outcomes] = await Promise.all([
    readAppliedInBulk(ctx, fleet.reachable, concurrency, false, available),
    latestOutcomes(registry.knex, 'migrate'),
  ]);

  const rows: TenantMigrationStatus[] = tenants.map((t) => {
    const reachable = applied.has(t.server_id);
    const read = applied.get(t.server_id)?.get(t.database_name) ?? null;
    const tampered = read instanceof TamperedTableError ? read : undefined;
    const names = tampered ? null : (read as string[] | null);
    const plan = tampered ? { pending: [], unknown: [] } : planMigrations(available, names);
    const last = outcomes.get(t.id);
    return {
      slug: t.slug,
      server: t.server_name,
      status: t.status,
      applied: names ? names.length : null,
      latest: names?.at(-1) ?? null,
      pending: plan.pending,
      unknown: plan.unknown,
      lastRun: last
        ? { runId: Number(last.run_id), outcome: last.outcome, at: last.finished_at, error: last.error }
        : null,
      reachable,
      ...(tampered ? { error: `tenant "${t.slug}": ${tampered.message}; not read` } : {}),
    };
  });

  const byLatest = new Map<string | null, number>();
  const known = rows.filter((r) => r.reachable && !r.error);
  for (const row of known) byLatest.set(row.latest, (byLatest.get(row.latest) ?? 0) + 1);
  return {
    available,
    tenants: rows,
    summary: {
      total: rows.length,
      upToDate: known.filter((r) => r.pending.length === 0 && r.unknown.length === 0).length,
      withPending: known.filter((r) => r.pending.length > 0).length,
      failedLastRun: rows.filter((r) => r.lastRun?.outcome === 'failed').length,
      byLatest: [...byLatest.entries()]
        .map(([migration, count]) => ({ migration, tenants: count }))
        .sort((a, b) => (b.migration ?? '').localeCompare(a.migration ?? '')),
      unknown: rows.filter((r) => !r.reachable).length,
      tampered: rows.filter((r) => r.error).length,
    },
    unreachableServers: fleet.outages,
  };
}
