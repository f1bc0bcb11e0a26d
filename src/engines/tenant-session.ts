import knexFactory, { type Knex } from 'knex';
import type {
  EngineDriver,
  TenantConnectionOptions,
  TenantConnections,
  TenantCredentials,
  TenantLogin,
} from './engine-driver.js';

/**
 * Runs `fn` on one session logged in as `login` (see TenantLogin): opens the login, logs in with
 * the first of its passwords the server accepts, and always closes the session and releases the
 * login. With one password nothing is probed (knex connects on the first query); with several
 * (an interrupted rotation) each is tried with `select 1` until one logs in. `fn` also gets the
 * credentials that worked, for a tool that logs in on its own (pg_dump). `factory` is the knex to
 * open it with (the project's own for migrations); default tenantctl's. Should the server stop
 * answering meanwhile, the session is cut (see ServerConnection.watch), so `fn` fails.
 */
export async function withLoginSession<T>(
  server: TenantConnections & { readonly driver: EngineDriver },
  login: TenantLogin,
  fn: (knex: Knex, credentials: TenantCredentials) => Promise<T>,
  options: TenantConnectionOptions = {},
  factory: (config: Knex.Config) => Knex = knexFactory,
): Promise<T> {
  server.lost.throwIfAborted();
  const opened = await login.open();
  try {
    const passwords: Array<string | undefined> = opened.passwords.length ? opened.passwords : [undefined];
    for (let i = 0; ; i++) {
      const credentials: TenantCredentials = {
        database: login.database,
        user: opened.user,
        password: passwords[i],
        ...(opened.role ? { role: opened.role } : {}),
      };
      const knex = factory(server.tenantKnexConfig(credentials, options));
      // Cut at once should the server stop answering (ServerConnection.watch): fn fails, never hangs.
      const hold = server.hold(knex);
      try {
        if (passwords.length > 1) {
          try {
            await knex.raw('select 1');
          } catch (error) {
            if (i + 1 < passwords.length && server.driver.isLoginError(error)) continue;
            throw error;
          }
        }
        return await fn(knex, credentials);
      } finally {
        hold();
        await knex.destroy();
      }
    }
  } finally {
    await opened.release();
  }
}
