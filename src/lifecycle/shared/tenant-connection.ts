import type { Context } from '../../context/context.js';
import { descriptorFor } from '../../engines/descriptors.js';
import { driverFor } from '../../engines/drivers.js';
import type { ConnectionConfig, TenantLoginDetails } from '../../engines/engine-descriptor.js';
import { specFromRow, type ServerRow } from '../../registry/servers-repo.js';
import type { TenantRow } from '../../registry/tenants-repo.js';

/**
 * Who an application logs in as on a tenant's database: its own user with its password; with
 * shared credentials (no tenant user), the server's admin; on files (SQLite), nobody.
 */
export async function applicationLogin(ctx: Context, row: TenantRow, server: ServerRow): Promise<TenantLoginDetails> {
  const decrypt = (sealed: string | null) => (sealed ? ctx.decrypt(sealed) : Promise.resolve(null));
  if (row.database_user)
    return { database: row.database_name, user: row.database_user, password: await decrypt(row.password_enc) };
  if (driverFor(server.engine).embedded) return { database: row.database_name, user: null, password: null };
  return { database: row.database_name, user: server.admin_user, password: await decrypt(server.admin_password_enc) };
}

/** Where and as whom an application connects to the tenant's database (see EngineDescriptor.connectionConfig). */
export async function applicationConnection(
  ctx: Context,
  row: TenantRow,
  server: ServerRow,
): Promise<ConnectionConfig> {
  return descriptorFor(server.engine).connectionConfig(specFromRow(server), await applicationLogin(ctx, row, server));
}

/** The URL of a connection config, with its password or without (null: left out). */
export function connectionUrlOf(config: ConnectionConfig, withPassword: boolean): string {
  return descriptorFor(config.engine).connectionUrl(withPassword ? config : { ...config, password: null });
}
