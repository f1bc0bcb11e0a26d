import { randomBytes } from 'node:crypto';
import knexFactory from 'knex';
import { SERVER_URLS } from './engines.js';

/** A registry database of its own on a main test server, created and dropped by the test. */
export interface RegistryDatabase {
  url: string;
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
    url: url.toString(),
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
