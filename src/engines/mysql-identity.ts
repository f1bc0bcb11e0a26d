import type { Knex } from 'knex';

/** Where tenantctl keeps its mark on a server without a server_uuid (MariaDB): a database of its own. */
export const MARK_DATABASE = 'tenantctl_identity';

/**
 * What a MySQL or MariaDB server says it is. MySQL keeps a `server_uuid` with its data (auto.cnf);
 * MariaDB has none that stays with the data (its `server_uid`, where it exists at all, hashes the
 * MAC address and port: it changes whenever a container or VM gets another network card). So on
 * MariaDB tenantctl keeps a mark of its own, written on first contact into one small table: the
 * same for every address that reaches the server, and gone with the data when a different server
 * answers at a known address.
 */
export async function mysqlIdentity(admin: Knex): Promise<string> {
  const uuid = await serverUuid(admin);
  if (uuid) return `mysql:${uuid}`;
  const read = async () => {
    const [rows] = await admin.raw(`select mark from \`${MARK_DATABASE}\`.\`server\` where id = 1`);
    return (rows as Array<{ mark: string }>)[0]?.mark;
  };
  let mark = await read().catch(() => undefined);
  if (!mark) {
    try {
      // Each statement is safe to run twice and at once: two first contacts keep the same mark.
      await admin.raw(`create database if not exists \`${MARK_DATABASE}\``);
      await admin.raw(
        `create table if not exists \`${MARK_DATABASE}\`.\`server\` (id int primary key, mark char(36) not null, created_at varchar(32) not null)`,
      );
      await admin.raw(
        `insert ignore into \`${MARK_DATABASE}\`.\`server\` (id, mark, created_at) values (1, uuid(), ?)`,
        [new Date().toISOString()],
      );
      mark = await read();
    } catch (error) {
      const code = String((error as { code?: string }).code);
      if (!/ACCESS_DENIED/.test(code)) throw error;
      throw new Error(
        `the admin cannot keep tenantctl's server mark (${(error as Error).message}): grant it SELECT, INSERT and CREATE on \`${MARK_DATABASE}\`.*`,
        { cause: error },
      );
    }
  }
  return `mariadb:${mark}`;
}

async function serverUuid(admin: Knex): Promise<string | undefined> {
  try {
    const [rows] = await admin.raw('select @@global.server_uuid as uuid');
    return (rows as Array<{ uuid: string | null }>)[0]?.uuid ?? undefined;
  } catch {
    return undefined; // MariaDB: unknown system variable
  }
}
