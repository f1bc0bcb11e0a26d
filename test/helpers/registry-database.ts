import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import { SERVER_URLS } from './engines.js';

/** A registry database of its own on a real server (the main one), dropped afterwards. */
export function registryDatabase(engine: 'postgres' | 'mysql') {
  const name = `tenantctl_registry_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({
    client: engine === 'postgres' ? 'pg' : 'mysql2',
    connection: SERVER_URLS[engine],
    pool: { min: 0, max: 1 },
  });
  const quoted = engine === 'postgres' ? `"${name}"` : `\`${name}\``;
  const url = new URL(SERVER_URLS[engine]);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    /** The server's admin connection (not the registry's database). */
    admin,
    create: () => admin.raw(`create database ${quoted}`),
    drop: async () => {
      await admin.raw(
        engine === 'postgres' ? `drop database if exists ${quoted} with (force)` : `drop database if exists ${quoted}`,
      );
      await admin.destroy();
    },
  };
}
