import { ConflictError } from '../../core/errors.js';
import type { ServerConnection } from '../../engines/engine-driver.js';
import { serverAddress, type ServerSpec } from '../../engines/server-spec.js';

/**
 * Refuses (ConflictError, exit 4) an admin login that lacks what tenantctl needs on the server:
 * `server add` before anything is recorded, `server update` before new credentials replace the
 * old ones (which then stay), so that no later create or suspend meets the missing privilege.
 */
export async function assertAdminPrivileges(connection: ServerConnection, spec: ServerSpec): Promise<void> {
  const missing = await connection.missingPrivileges();
  if (missing.length === 0) return;
  throw new ConflictError(
    `the admin login "${spec.user ?? ''}" on ${serverAddress(spec)} lacks ${missing.join(', ')}: tenantctl creates databases and users and grants them access`,
  );
}
