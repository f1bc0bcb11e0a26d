/** Doctor's checks under a permission error: what the admin lacks becomes a finding, not a crash. */
import { driverFor } from '../../engines/drivers.js';
import type { ServerRow } from '../../registry/servers-repo.js';
import type { FindingList } from './findings.js';

/**
 * Runs one check; a statement it makes that the server refuses for want of a privilege is
 * reported as an `admin_privilege` finding naming the privilege (on `server` when the check is
 * one server's), and the other checks go on. Any other error is thrown as before.
 */
export async function withPrivilegeFinding(
  list: FindingList,
  servers: ServerRow[],
  what: string,
  check: () => Promise<void>,
  server?: ServerRow,
): Promise<void> {
  try {
    await check();
  } catch (error) {
    const engines = new Set((server ? [server] : servers).map((s) => s.engine));
    const missing = [...engines].map((engine) => driverFor(engine).missingPrivilege(error)).find(Boolean);
    if (!missing) throw error;
    list.add({
      kind: 'admin_privilege',
      target: server ? { type: 'server', name: server.name } : { type: 'registry' },
      tenant: null,
      server: server?.name ?? null,
      message: `${server ? `the admin of server "${server.name}"` : 'a server admin'} lacks a privilege doctor needs: ${missing}; ${what} not checked`,
    });
  }
}
