import type { EngineDriver, ServerConnection } from '../../engines/engine-driver.js';
import { adminLogin } from '../../engines/engine-driver.js';
import type { Context } from '../../context/context.js';
import { runAdminSetupOn, type AdminSetup, type SetupTenant } from '../../tenant-schema/admin-setup.js';
import { withExitGuard } from '../../tenant-schema/exit-guard.js';
import { tenantProject } from '../../tenant-schema/tenant-project.js';
import { withTenantKnex } from './tenant-database.js';

/** The registry row's parts a setup needs: who the tenant is and its names on its server. */
export interface SetupTarget {
  slug: string;
  name: string;
  plan: string | null;
  /** The row's metadata, as stored (JSON). */
  metadata: string;
  database: string;
  user: string | null;
}

/**
 * Runs the project's admin setup on one tenant database, logged in as the server's admin (never
 * the tenant: that is the point, it does what the tenant may not), on one session of its own. A
 * module gets the project's knex with the knexfile's settings, as migrations do; a .sql file is
 * run as the engine runs scripts. Its console output is the caller's UserConsole scope's.
 */
export async function runAdminSetup(
  ctx: Context,
  server: ServerConnection,
  target: SetupTarget,
  setup: AdminSetup,
): Promise<void> {
  const tenant: SetupTenant = {
    slug: target.slug,
    name: target.name,
    plan: target.plan,
    metadata: JSON.parse(target.metadata) as Record<string, unknown>,
    database: target.database,
    user: target.user,
  };
  const factory = setup.kind === 'module' ? (await tenantProject(ctx)).knex.factory : undefined;
  await withExitGuard(() =>
    withTenantKnex(
      server,
      adminLogin(target.database),
      (knex) => runAdminSetupOn(knex, setup, tenant, (k, sql) => server.driver.runScript(k, sql)),
      factory,
      { script: setup.kind === 'sql', ownNameSearch: true },
    ),
  );
}

/**
 * What a migration or seed refused a privilege is told (README "Writing migrations and seeds"):
 * they run as the tenant's own user, and what needs more belongs in `adminSetup`. '' for any
 * other error. The error and the errors it wraps are asked.
 */
export function permissionHint(driver: EngineDriver, error: unknown, user: string | null): string {
  let denied = false;
  for (let e = error, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as Error).cause, depth++) {
    if (driver.isPermissionDenied(e)) denied = true;
  }
  if (!denied) return '';
  const who = user ? `the tenant's own database user "${user}"` : "the tenant's session";
  return ` [permission denied: migrations and seeds run as ${who}, not the server's admin; do what needs the admin (CREATE EXTENSION, GRANT) in adminSetup, which runs as the admin before migrations (tenantctl setup runs it on existing tenants)]`;
}
