import knexFactory, { type Knex } from 'knex';
import {
  usersOf,
  type ServerConnection,
  type TenantConnectionOptions,
  type TenantConnections,
} from '../engines/engine-driver.js';

/**
 * Opens a knex pool on one tenant database for schema work (admin credentials; on PostgreSQL
 * as the tenant's role), runs `fn`, and always destroys the pool: no connection outlives its use.
 * `factory` is the knex to open it with (the project's own, see projectKnex); default tenantctl's.
 * `session` sets the session's lock timeout. Should the server stop answering meanwhile, the
 * pool's connections are cut (see ServerConnection.watch), so `fn` fails instead of waiting.
 */
export async function withTenantKnex<T>(
  server: TenantConnections,
  database: string,
  role: string | null,
  fn: (knex: Knex) => Promise<T>,
  factory: (config: Knex.Config) => Knex = knexFactory,
  session: Pick<TenantConnectionOptions, 'lockTimeoutMs'> = {},
): Promise<T> {
  server.lost.throwIfAborted();
  const knex = factory(server.tenantKnexConfig({ database, role: role ?? undefined, ...session }));
  const release = server.hold(knex);
  try {
    return await fn(knex);
  } finally {
    release();
    await knex.destroy();
  }
}

/**
 * Removes whatever a tenant may have on its server: database first (it may be owned by the
 * user), then the user. Both are "if exists", so it is safe on a half-created tenant and safe to
 * repeat. Returns the problems met rather than stopping at the first.
 */
export async function dropTenantDatabase(
  server: ServerConnection,
  database: string | null,
  user: string | null,
): Promise<Error[]> {
  const problems: Error[] = [];
  if (database) {
    try {
      await server.dropDatabase(database);
    } catch (error) {
      problems.push(error as Error);
    }
  }
  if (user) {
    try {
      await usersOf(server).dropUser(user);
    } catch (error) {
      problems.push(error as Error);
    }
  }
  return problems;
}
