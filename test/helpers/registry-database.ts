import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { SERVER_URLS } from './engines.js';

/** A registry database of its own on a real test server (the main one by default), dropped afterwards. */
export interface RegistryDatabase {
  name: string;
  url: string;
  /** The server's admin connection (not the registry's database). */
  admin: Knex;
  create(): Promise<void>;
  drop(): Promise<void>;
}

export function registryDatabase(
  engine: 'postgres' | 'mysql',
  serverUrl: string = SERVER_URLS[engine],
): RegistryDatabase {
  const name = `tenantctl_registry_${randomBytes(4).toString('hex')}`;
  const admin = knexFactory({
    client: engine === 'postgres' ? 'pg' : 'mysql2',
    connection: serverUrl,
    pool: { min: 0, max: 1 },
  });
  const quoted = engine === 'postgres' ? `"${name}"` : `\`${name}\``;
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    admin,
    create: async () => {
      await admin.raw(`create database ${quoted}`);
    },
    drop: async () => {
      await admin.raw(
        engine === 'postgres' ? `drop database if exists ${quoted} with (force)` : `drop database if exists ${quoted}`,
      );
      await admin.destroy();
    },
  };
}
