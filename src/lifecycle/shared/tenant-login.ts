import type { Context, ServerHandle } from '../../context/context.js';
import { LockedError, UsageError } from '../../core/errors.js';
import { driverFor } from '../../engines/drivers.js';
import {
  usersOf,
  type HeldLock,
  type LentLogin,
  type OpenLogin,
  type ServerConnection,
  type TenantLogin,
} from '../../engines/engine-driver.js';
import { listServerRows } from '../../registry/servers-repo.js';

/** What a tenant's login is made of: its registry row (or, for a move's target, the move's). */
export interface LoginSource {
  slug: string;
  database_name: string;
  database_user: string | null;
  password_enc: string | null;
  password_pending_enc?: string | null;
  status: string;
}

export interface LoginOptions {
  /**
   * The database was created by this very operation and holds nothing of the tenant's yet
   * (create's migrations and seeds): where the tenant has no user of its own, the admin may work
   * in it without `--trust-tenant-code`.
   */
  fresh?: boolean;
}

/**
 * The one way lifecycles log in to a tenant's database: as the tenant's own user, its password
 * decrypted from the registry (then a rotation's pending one, should that rotation have been
 * interrupted). Where that user's account is locked (a suspended or fenced tenant), tenantctl
 * borrows it for the operation: the account is let in again with a one-time password the
 * application does not know, then locked again with its own (see borrowLogin). A tenant without
 * a user of its own (`tenantUsers: false`) is worked on as the admin only with `--trust-tenant-code`.
 */
export function tenantLogin(
  ctx: Context,
  server: ServerHandle,
  source: LoginSource,
  options: LoginOptions = {},
): TenantLogin {
  return {
    database: source.database_name,
    user: source.database_user,
    async open(): Promise<OpenLogin> {
      const user = source.database_user;
      if (!user) {
        if (server.connection.driver.supportsUsers && !options.fresh && !ctx.config.trustTenantCode)
          throw untrusted([source.slug], 'this command');
        return { user: null, passwords: [], release: async () => {} };
      }
      const own = await ctx.decrypt(source.password_enc!);
      const pending = source.password_pending_enc ? [await ctx.decrypt(source.password_pending_enc)] : [];
      const locked =
        source.status === 'suspended' || (await server.connection.accessSuspended(source.database_name, user));
      if (!locked) return { user, passwords: [own, ...pending], release: async () => {} };
      return borrowLogin(ctx, server, source, user, own);
    },
  };
}

/**
 * Refuses, before anything is touched, a command that would work on tenants without a user of
 * their own (`tenantUsers: false`) over the admin's session, unless the operator trusts their code.
 */
export async function assertTenantCodeTrusted(
  ctx: Context,
  tenants: ReadonlyArray<{ slug: string; database_user: string | null; server_id: number }>,
  what: string,
): Promise<void> {
  if (ctx.config.trustTenantCode || tenants.every((t) => t.database_user)) return;
  const registry = await ctx.registry();
  const engines = new Map((await listServerRows(registry.knex, { includeRemoved: true })).map((s) => [s.id, s.engine]));
  const shared = tenants.filter((t) => {
    const engine = engines.get(t.server_id);
    return !t.database_user && engine !== undefined && driverFor(engine).supportsUsers;
  });
  if (shared.length)
    throw untrusted(
      shared.map((t) => t.slug),
      what,
    );
}

/** The refusal of assertTenantCodeTrusted, for a tenant not in the registry yet (a clone). */
export function untrusted(slugs: string[], what: string): UsageError {
  const named = slugs.length > 3 ? `${slugs.slice(0, 3).join(', ')} and ${slugs.length - 3} more` : slugs.join(', ');
  return new UsageError(
    `${what} would read, dump, restore or migrate the database of ${slugs.length === 1 ? 'tenant' : 'tenants'} ${named} over the server's admin session: ${slugs.length === 1 ? 'it has' : 'they have'} no database user of ${slugs.length === 1 ? 'its' : 'their'} own (tenantUsers: false), so whatever ${slugs.length === 1 ? 'it' : 'they'} defined (triggers, functions, views) would run with the admin's rights. Pass --trust-tenant-code to do it anyway.`,
  );
}

/**
 * Gives a tenant's account its own password back, keeping it locked: before tenantctl unlocks an
 * account, so that a loan a killed tenantctl left open (unlocked, with a one-time password nobody
 * knows) ends with the application's password, not that one.
 */
export async function restoreOwnPassword(ctx: Context, server: ServerConnection, source: LoginSource): Promise<void> {
  if (!source.database_user || !source.password_enc || !server.users) return;
  await server.users.endLoan(source.database_user, null, await ctx.decrypt(source.password_enc), source.database_name);
}

/** How long a command waits for another tenantctl's loan of the same login to end. */
const LEASE_WAIT_MS = 30_000;

interface Loan {
  holders: number;
  started: Promise<{ lent: LentLogin; lease: HeldLock | undefined }>;
}

interface Loans {
  active: Map<string, Loan>;
}

const loansByContext = new WeakMap<Context, Loans>();

function loansOf(ctx: Context): Loans {
  let loans = loansByContext.get(ctx);
  if (!loans) {
    loans = { active: new Map() };
    loansByContext.set(ctx, loans);
  }
  return loans;
}

/**
 * Lends a locked account to this run: one statement lets it in with a one-time password (the
 * application, which knows only its own, stays out), and when the last session of the run that
 * uses it is released, one statement locks it again with its own password and ends its sessions.
 * Sessions of one run share the loan; another tenantctl's loan of the same account is waited for
 * (a lease in the registry), so two never hand out passwords over each other. A loan killed before
 * it ended leaves the account letting in only that one-time password: the next loan, or unlocking
 * it (restoreOwnPassword), gives it its own back.
 */
async function borrowLogin(
  ctx: Context,
  server: ServerHandle,
  source: LoginSource,
  user: string,
  own: string,
): Promise<OpenLogin> {
  const loans = loansOf(ctx);
  const key = `${server.row.id}:${user}`;
  let loan = loans.active.get(key);
  if (!loan) {
    loan = { holders: 0, started: startLoan(ctx, server, source, user) };
    loans.active.set(key, loan);
  }
  const current = loan;
  current.holders++;
  let started: { lent: LentLogin; lease: HeldLock | undefined };
  try {
    started = await current.started;
  } catch (error) {
    if (--current.holders === 0 && loans.active.get(key) === current) loans.active.delete(key);
    throw error;
  }
  let released = false;
  return {
    user: started.lent.user,
    passwords: [started.lent.password],
    ...(started.lent.role ? { role: started.lent.role } : {}),
    release: async () => {
      if (released) return;
      released = true;
      if (--current.holders > 0) return;
      if (loans.active.get(key) === current) loans.active.delete(key);
      try {
        await usersOf(server.connection).endLoan(user, started.lent, own, source.database_name);
      } finally {
        await started.lease?.release();
      }
    },
  };
}

async function startLoan(
  ctx: Context,
  server: ServerHandle,
  source: LoginSource,
  user: string,
): Promise<{ lent: LentLogin; lease: HeldLock | undefined }> {
  const users = usersOf(server.connection);
  if (!users.lendsOwnAccount) return { lent: await users.lendLogin(user, source.database_name), lease: undefined };
  const registry = await ctx.registry();
  const lease = await registry.tryLock(`tenantctl:login:${server.row.id}:${user}`, LEASE_WAIT_MS);
  if (!lease)
    throw new LockedError(
      `the database login of tenant "${source.slug}" is locked (suspended or fenced) and another tenantctl has borrowed it for ${LEASE_WAIT_MS / 1000} s: try again when that is done`,
    );
  try {
    return { lent: await users.lendLogin(user, source.database_name), lease };
  } catch (error) {
    await lease.release();
    throw error;
  }
}
