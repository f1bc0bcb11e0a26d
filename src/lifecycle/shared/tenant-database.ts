import knexFactory, { type Knex } from 'knex';
import {
  usersOf,
  type ServerConnection,
  type TenantConnectionOptions,
  type TenantLogin,
} from '../../engines/engine-driver.js';
import { withLoginSession } from '../../engines/tenant-session.js';

/**
 * Opens a session on one tenant database for schema work (migrations, seeds), logged in as the
 * tenant's own user (see tenantLogin), runs `fn`, and always closes it: no connection outlives
 * its use. `factory` is the knex to open it with (the project's own, see projectKnex); default
 * tenantctl's. `session` sets the session's lock timeout. Should the server stop answering
 * meanwhile, the session is cut (see withLoginSession), so `fn` fails instead of waiting.
 */
export async function withTenantKnex<T>(
  server: ServerConnection,
  login: TenantLogin,
  fn: (knex: Knex) => Promise<T>,
  factory: (config: Knex.Config) => Knex = knexFactory,
  session: TenantConnectionOptions = {},
): Promise<T> {
  return withLoginSession(server, login, (knex) => fn(knex), { ...session, schemaWork: true }, factory);
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
