import type { Context } from '../../context/context.js';
import { ConflictError, InternalError, NotFoundError } from '../../core/errors.js';
import type { Engine } from '../../engines/server-spec.js';
import { findServerRow } from '../../registry/servers-repo.js';
import { applicationConnection, connectionUrlOf } from '../shared/tenant-connection.js';
import { loadTenantRow } from '../shared/load-tenant.js';

/** What `tenantctl url` prints: where an application connects, as the tenant's user. */
export interface TenantUrl {
  slug: string;
  engine: Engine;
  /** The URL, its password left out unless asked for. */
  url: string;
  host: string | null;
  port: number | null;
  user: string | null;
  database: string;
  /** Only when asked for (revealPassword); null where the login has none. */
  password?: string | null;
}

/**
 * The connection URL of an active tenant's database for applications that are not Knex (Prisma,
 * Sequelize, TypeORM, SQLAlchemy, a plain driver). A suspended tenant's database refuses its user,
 * and one being created, deleted or failed has none to serve: refused (ConflictError), as the
 * library's knex() refuses them.
 */
export async function tenantUrl(
  ctx: Context,
  slug: string,
  options: { revealPassword?: boolean } = {},
): Promise<TenantUrl> {
  const row = await loadTenantRow(ctx, slug);
  if (row.status === 'deleted') throw new NotFoundError(`tenant "${slug}" was deleted`);
  if (row.status === 'suspended')
    throw new ConflictError(
      `tenant "${slug}" is suspended${row.status_reason ? ` (${row.status_reason})` : ''}: its database refuses its user`,
    );
  if (row.status !== 'active')
    throw new ConflictError(`tenant "${slug}" is ${row.status}: no database to connect to now`);
  const registry = await ctx.registry();
  const server = await findServerRow(registry.knex, { id: row.server_id });
  if (!server)
    throw new InternalError(`tenant "${slug}" names server #${row.server_id}, which the registry does not have`);
  const config = await applicationConnection(ctx, row, server);
  const reveal = Boolean(options.revealPassword);
  return {
    slug,
    engine: config.engine,
    url: connectionUrlOf(config, reveal),
    host: config.host,
    port: config.port,
    user: config.user,
    database: config.database,
    ...(reveal ? { password: config.password } : {}),
  };
}
