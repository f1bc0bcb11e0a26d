import type { Knex } from 'knex';
import { ServerIdentityError, errorMessage } from '../core/errors.js';
import type { EngineDriver, ServerConnection } from '../engines/engine-driver.js';
import { serverAddress } from '../engines/server-spec.js';
import {
  findServerByIdentity,
  findServerRow,
  recordServerIdentity,
  specFromRow,
  type ServerRow,
} from '../registry/servers-repo.js';

const addressOf = (row: ServerRow) => serverAddress(specFromRow(row));

/** What the server says it is; a server that cannot say is not used (ServerIdentityError). */
export async function readIdentity(name: string, address: string, connection: ServerConnection): Promise<string> {
  try {
    return await connection.identity();
  } catch (error) {
    throw new ServerIdentityError(
      name,
      address,
      'identity unknown',
      `server "${name}" (${address}) would not say which server it is: ${errorMessage(error)}`,
      error,
    );
  }
}

/**
 * The refusal of a second name for a server already registered; `registered` when that second name
 * is in the registry already (recorded before identities were kept), which can then be removed.
 */
export function registeredTwice(
  name: string,
  address: string,
  first: ServerRow,
  registered = true,
): ServerIdentityError {
  const remove = registered ? ` (forget "${name}" if it holds no tenant: tenantctl server remove ${name})` : '';
  return new ServerIdentityError(
    name,
    address,
    'registered twice',
    `server "${name}" (${address}) is the same server as "${first.name}" (${addressOf(first)}): a server is registered once; use "${first.name}"${remove}`,
  );
}

/**
 * Checks what a registered server says it is against what the registry recorded. First contact
 * (nothing recorded yet: a server registered before identities were kept) records it, unless
 * another registered server already has it. Throws ServerIdentityError for a second name of a
 * registered server, or for a server that is not the one registered (until `server update <name>
 * --accept-identity`). `readOnly` checks without recording.
 */
export async function verifyServerIdentity(
  knex: Knex,
  registryDriver: EngineDriver,
  row: ServerRow,
  identity: string,
  options: { readOnly?: boolean } = {},
): Promise<void> {
  if (row.identity === identity) return;
  if (row.identity) throw identityChanged(row, identity);
  const first = await findServerByIdentity(knex, identity);
  if (first && first.id !== row.id) throw registeredTwice(row.name, addressOf(row), first);
  if (options.readOnly) return;
  try {
    if (await recordServerIdentity(knex, row.id, identity, null)) return;
  } catch (error) {
    if (!registryDriver.isUniqueViolation(error)) throw error;
    // Another name of this server was recorded at the same moment.
    const holder = await findServerByIdentity(knex, identity);
    if (holder && holder.id !== row.id) throw registeredTwice(row.name, addressOf(row), holder);
    throw error;
  }
  // Another tenantctl recorded one first: it must be this one.
  const fresh = (await findServerRow(knex, { id: row.id })) ?? row;
  if (fresh.identity !== identity) throw identityChanged(fresh, identity);
}

function identityChanged(row: ServerRow, identity: string): ServerIdentityError {
  return new ServerIdentityError(
    row.name,
    addressOf(row),
    'identity changed',
    `server "${row.name}" (${addressOf(row)}) is not the server registered under that name: it says it is ${identity}, the registry recorded ${row.identity}. If the server was replaced on purpose (restored, rebuilt, failed over), confirm it: tenantctl server update ${row.name} --accept-identity`,
  );
}
