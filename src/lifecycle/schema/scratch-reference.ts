import { randomBytes } from 'node:crypto';
import type { Context } from '../../context/context.js';
import type { SchemaStructure } from '../../engines/schema-structure.js';
import { runMigrator } from '../../tenant-schema/run-migrations.js';
import type { TenantProject } from '../../tenant-schema/tenant-project.js';
import { withTenantKnex } from '../shared/tenant-database.js';
import { tenantLogin } from '../shared/tenant-login.js';

/** Scratch databases are named so; one left behind by a kill is recognisable (and holds nothing of a tenant's). */
export const SCRATCH_PREFIX = 'tenantctl_scratch_';

/**
 * The structure a fresh tenant gets on a server: a scratch database created there, migrated to
 * the latest migration with the project's knex (as `create` does), read, and dropped whatever
 * happens. It holds nothing of a tenant's, so the admin works in it.
 */
export async function scratchStructure(
  ctx: Context,
  serverId: number,
  project: TenantProject,
): Promise<SchemaStructure> {
  const server = await ctx.server(serverId);
  const connection = server.connection;
  const name = `${SCRATCH_PREFIX}${randomBytes(4).toString('hex')}`;
  const source = { slug: name, database_name: name, database_user: null, password_enc: null, status: 'active' };
  const login = tenantLogin(ctx, server, source, { fresh: true });
  await connection.createDatabase(name);
  try {
    await withTenantKnex(
      connection,
      login,
      (knex) => runMigrator(knex, project.source(), 'up', project.migrations),
      project.knex.factory,
    );
    return await connection.readStructure(login);
  } finally {
    await connection.dropDatabase(name).catch(() => undefined);
  }
}
