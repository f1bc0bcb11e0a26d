import knexFactory from 'knex';
import type { Context, ServerHandle } from '../../context/context.js';
import { ConflictError, NotFoundError, OperationError, UsageError, errorMessage } from '../../core/errors.js';
import { generatePassword, redact } from '../../core/secrets.js';
import { slugRuleOf, validateSlug } from '../../core/slug.js';
import { validateText } from '../../core/text-limits.js';
import { usersOf } from '../../engines/engine-driver.js';
import { assertMetadataAvailable, readIndexedKeys, writeMetadataIndex } from '../../registry/metadata-index-repo.js';
import {
  deleteTenantRow,
  findTenantByDatabase,
  findTenantHoldingUser,
  findTenantRow,
  insertTenantRow,
  now,
  toTenant,
  updateTenantRow,
  type Tenant,
  type TenantRow,
} from '../../registry/tenants-repo.js';
import { specFromRow } from '../../registry/servers-repo.js';
import { migrateToLatest } from '../../tenant-schema/run-migrations.js';
import { assertProjectDirectories, tenantProject } from '../../tenant-schema/tenant-project.js';
import { UserConsole } from '../../tenant-schema/user-console.js';
import { adminSetupOf } from '../../tenant-schema/admin-setup.js';
import { runAdminSetup } from '../shared/admin-setup.js';
import { withTenantKnex } from '../shared/tenant-database.js';
import { tenantLogin, untrusted } from '../shared/tenant-login.js';
import { tenantNames } from '../shared/tenant-names.js';
import { withTenantLock } from '../shared/tenant-lock.js';
import { placementRefusal, withPlacementLock } from '../servers/place-tenant.js';

export interface AdoptTenantInput {
  slug: string;
  /** The registered server the database is on (by name); default the configured server. */
  server?: string;
  /** The existing database; required unless an interrupted adopt of this slug is resumed. */
  database?: string;
  /** Keep this existing database user (the application's), logging in with `password`. */
  user?: string;
  password?: string;
  /** Make a least-privilege user of tenantctl's own (named by userNameTemplate) and give it the objects. */
  createUser?: boolean;
  /** Run pending migrations once adopted (default: none is run). */
  migrate?: boolean;
  name?: string;
  plan?: string;
  metadata?: Record<string, string>;
}

/**
 * The steps of `adopt`, each recorded on the row (`step`) before it runs, so that a killed adopt
 * run again resumes where it stopped. None drops or rewrites the tenant's data.
 */
export const ADOPT_STEPS = [
  'adopt-user',
  'adopt-objects',
  'adopt-mark',
  'adopt-setup',
  'adopt-read',
  'migrations',
] as const;
export type AdoptStep = (typeof ADOPT_STEPS)[number];

export interface AdoptTenantResult {
  tenant: Tenant;
  /** True when this run finished an adopt an earlier one had started. */
  resumed: boolean;
  /** True when tenantctl made the tenant's user (--create-user). */
  createdUser: boolean;
  /** The migrations the database's migration table says are applied (before --migrate). */
  applied: string[];
  /** The migrations --migrate ran. */
  migrated: string[];
  /** The knexfile's migration table that was read. */
  migrationsTable: string;
  durationMs: number;
}

/** How the row says an adopt takes its user: the mode is recorded so that a resume keeps it. */
export const MODE_CREATE_USER = 'adopting (--create-user)';
const MODE_KEEP_USER = 'adopting (--user)';
const MODE_NO_USER = 'adopting';

/**
 * Brings an existing database under tenantctl without touching its data: checks it (it exists,
 * no tenant has it, it carries no other registry's mark, the credentials log in), records the
 * tenant `adopting`, then, each step recorded first: the user (made, or kept), the objects given
 * to a made user, this registry's ownership mark, the migration table read; `active` at the
 * state that table says, running no migration unless `migrate`.
 */
export async function adoptTenant(
  ctx: Context,
  input: AdoptTenantInput,
  onProgress: (step: AdoptStep) => void = () => {},
): Promise<AdoptTenantResult> {
  const started = Date.now();
  const slug = validateSlug(input.slug, slugRuleOf(ctx.config));
  validateText('name', input.name);
  validateText('plan', input.plan);
  if (input.user && input.createUser) throw new UsageError('adopt: --user and --create-user exclude each other');
  const project = await tenantProject(ctx);
  if (input.migrate) assertProjectDirectories(project, { migrations: true, seeds: false });
  const registry = await ctx.registry();
  return withTenantLock(ctx, slug, async () => {
    const existing = await findTenantRow(registry.knex, slug);
    let row: TenantRow;
    let server: ServerHandle;
    if (existing) {
      if (existing.status !== 'adopting')
        throw new ConflictError(`tenant "${slug}" already exists (${existing.status})`);
      server = await ctx.server(existing.server_id);
      if (input.server && input.server !== server.row.name)
        throw new UsageError(`tenant "${slug}" is being adopted on server "${server.row.name}": resume it there`);
      if (input.database && input.database !== existing.database_name)
        throw new UsageError(`tenant "${slug}" is being adopted from database "${existing.database_name}"`);
      row = existing;
      // A run killed between recording the row and indexing its metadata: indexed now (idempotent).
      const indexedKeys = await readIndexedKeys(registry.knex);
      await writeMetadataIndex(registry, row.id, indexedKeys, JSON.parse(row.metadata) as Record<string, unknown>);
    } else {
      if (!input.database) throw new UsageError('adopt: --database <name> is required');
      server = input.server ? await ctx.serverByName(input.server) : await ctx.defaultServer();
      const metadata = { ...input.metadata };
      const indexedKeys = await readIndexedKeys(registry.knex);
      await assertMetadataAvailable(registry.knex, indexedKeys, metadata);
      // Checked and recorded as one step, as create places a tenant: two adopts (or an adopt and
      // a create) never both take a server's last free place.
      row = await withPlacementLock(ctx, async () => {
        const refusal = await placementRefusal(ctx, server);
        if (refusal)
          throw new ConflictError(
            `server "${server.row.name}" cannot take another tenant: ${refusal}; nothing was changed`,
          );
        const plan = await planAdoption(ctx, server, slug, input);
        return ctx.withEncrypted(plan.password, (encrypted) =>
          insertTenantRow(registry.knex, {
            slug,
            name: input.name ?? slug,
            status: 'adopting',
            step: null,
            server_id: server.row.id,
            database_name: input.database!,
            database_user: plan.user,
            password_enc: encrypted,
            password_changed_at: plan.password ? now() : null,
            plan: input.plan ?? null,
            metadata: JSON.stringify(metadata),
            last_error: null,
            status_reason: plan.mode,
          }),
        );
      });
      try {
        await writeMetadataIndex(registry, row.id, indexedKeys, metadata);
      } catch (error) {
        // Another tenant took an indexed value since the check: nothing was done on the server.
        await deleteTenantRow(registry.knex, row.id);
        throw error;
      }
    }
    const createUser = row.status_reason === MODE_CREATE_USER;
    const done = await runAdoptSteps(ctx, server, row, createUser, Boolean(input.migrate), onProgress);
    await updateTenantRow(registry.knex, row.id, {
      status: 'active',
      step: null,
      last_error: null,
      status_reason: null,
    });
    return {
      tenant: toTenant((await findTenantRow(registry.knex, slug))!, server.row.name),
      resumed: existing !== undefined,
      createdUser: createUser,
      ...done,
      migrationsTable: project.migrations.tableName,
      durationMs: Date.now() - started,
    };
  });
}

interface AdoptionPlan {
  user: string | null;
  password: string | null;
  mode: string;
}

/** Every check a new adoption makes before anything is recorded or touched. */
async function planAdoption(
  ctx: Context,
  server: ServerHandle,
  slug: string,
  input: AdoptTenantInput,
): Promise<AdoptionPlan> {
  const registry = await ctx.registry();
  const connection = server.connection;
  const driver = connection.driver;
  const database = input.database!;
  if (driver.isReservedName(database))
    throw new UsageError(`database "${database}" is reserved by ${driver.engine}: it cannot be a tenant's`);
  if (isTenantctlDatabase(ctx, database))
    throw new UsageError(
      `database "${database}" is tenantctl's own (the registry, or a scratch or mark database): it cannot be a tenant's`,
    );
  const owner = await findTenantByDatabase(registry.knex, server.row.id, database);
  if (owner)
    throw new ConflictError(
      `database "${database}" on server "${server.row.name}" already belongs to tenant "${owner.slug}"`,
    );
  if (!(await connection.databaseExists(database)))
    throw new NotFoundError(`database "${database}" does not exist on server "${server.row.name}"`);
  const mark = (await connection.readMarks([database])).get(database) ?? null;
  if (mark !== null && mark !== (await registry.mark()))
    throw new ConflictError(
      `database "${database}" on server "${server.row.name}" carries another registry's ownership mark: it belongs to another tenantctl; it is left alone`,
    );
  if (!driver.supportsUsers || !ctx.config.tenantUsers) {
    if (input.user || input.createUser)
      throw new UsageError(
        `adopt: ${driver.supportsUsers ? 'tenantUsers is off' : `${driver.engine} has no database users`}; leave out --user and --create-user`,
      );
    // Migrations over the admin's session in a database someone else made run its triggers as the admin.
    if (driver.supportsUsers && input.migrate && !ctx.config.trustTenantCode)
      throw untrusted([slug], 'adopt --migrate');
    return { user: null, password: null, mode: MODE_NO_USER };
  }
  if (input.createUser) {
    const user = tenantNames(ctx.config, driver, slug, { ...input.metadata }).user!;
    if (await usersOf(connection).userExists(user))
      throw new ConflictError(
        `database user "${user}" already exists on server "${server.row.name}": keep it with --user ${user} (and its password), or adopt under another slug`,
      );
    return { user, password: generatePassword(), mode: MODE_CREATE_USER };
  }
  if (!input.user)
    throw new UsageError(
      "adopt: say how the tenant logs in: --user <the application's user> (its password on stdin or in TENANTCTL_TENANT_PASSWORD), or --create-user",
    );
  if (!input.password)
    throw new UsageError(
      `adopt: --user ${input.user} needs its password (--password-stdin or TENANTCTL_TENANT_PASSWORD)`,
    );
  await assertUserIsTenants(ctx, server, slug, input.user);
  await verifyLogin(server, database, input.user, input.password);
  return { user: input.user, password: input.password, mode: MODE_KEEP_USER };
}

/**
 * The kept user becomes the tenant's own: suspend locks it, delete drops it. So it may be neither
 * the server's admin nor a user another tenant of this registry has (a user several databases
 * share: adopt those with --create-user instead).
 */
async function assertUserIsTenants(ctx: Context, server: ServerHandle, slug: string, user: string): Promise<void> {
  const admin = specFromRow(server.row).user;
  if (admin !== undefined && user === admin)
    throw new UsageError(
      `adopt: "${user}" is server "${server.row.name}"'s admin; a tenant needs a user of its own (--create-user)`,
    );
  const registry = await ctx.registry();
  const holder = await findTenantHoldingUser(registry.knex, server.row.id, user, slug);
  if (holder)
    throw new ConflictError(
      `adopt: database user "${user}" is already tenant "${holder}"'s; suspending or deleting one would lock out the other: use --create-user`,
    );
}

/** Logs in as the application's user, as it does: a wrong password is refused before anything is recorded. */
async function verifyLogin(server: ServerHandle, database: string, user: string, password: string): Promise<void> {
  if ((await usersOf(server.connection).passwordMatches(user, password)) === false)
    throw new UsageError(
      `adopt: the password given is not that of "${user}" on server "${server.row.name}"; nothing was changed`,
    );
  const knex = knexFactory({
    ...server.connection.tenantUserKnexConfig(database, user, password),
    pool: { min: 0, max: 1 },
  });
  try {
    await knex.raw('select 1');
  } catch (error) {
    throw new UsageError(
      `adopt: cannot log in to "${database}" on server "${server.row.name}" as "${user}": ${redact(errorMessage(error), [password])}; nothing was changed`,
    );
  } finally {
    await knex.destroy();
  }
}

/** Runs the adopt's steps from the one the row says it reached; a failure leaves the row `adopting`, to resume. */
async function runAdoptSteps(
  ctx: Context,
  server: ServerHandle,
  row: TenantRow,
  createUser: boolean,
  migrate: boolean,
  onProgress: (step: AdoptStep) => void,
): Promise<{ applied: string[]; migrated: string[] }> {
  const registry = await ctx.registry();
  const project = await tenantProject(ctx);
  const connection = server.connection;
  const login = tenantLogin(ctx, server, row);
  const password = row.password_enc ? await ctx.decrypt(row.password_enc) : null;
  const applied: string[] = [];
  const migrated: string[] = [];
  const table = project.table;
  const setup = await adminSetupOf(ctx);
  const steps: Record<AdoptStep, (() => Promise<void>) | undefined> = {
    'adopt-user': createUser
      ? async () => {
          const users = usersOf(connection);
          // A user of this name is the one an earlier run of this adopt made (it was checked
          // absent before the row was recorded): it gets the recorded password again.
          if (await users.userExists(row.database_user!)) await users.setPassword(row.database_user!, password!);
          else await users.createUser(row.database_user!, password!, row.database_name);
        }
      : undefined,
    'adopt-objects': createUser
      ? () => usersOf(connection).giveObjects(row.database_user!, row.database_name)
      : undefined,
    'adopt-mark': async () => connection.markDatabase(row.database_name, await registry.mark()),
    // The project's adminSetup (idempotent by contract) gives the database what the migrations
    // need of the admin, as on create; the application's data is not touched by it.
    'adopt-setup': setup
      ? () =>
          new UserConsole().run(() =>
            runAdminSetup(ctx, connection, { ...row, database: row.database_name, user: row.database_user }, setup),
          )
      : undefined,
    'adopt-read': () =>
      withTenantKnex(connection, login, async (knex) => {
        const found = await connection.driver.readAppliedOn(knex, table, row.database_name);
        applied.push(...(found ?? []));
        // PostgreSQL keeps the migration state in the catalog (the stamp) from now on, as after create.
        if (found !== null) await connection.migrationFingerprints?.keepMigrationFingerprint(knex, table);
      }),
    migrations: migrate
      ? () =>
          new UserConsole().run(() =>
            withTenantKnex(
              connection,
              login,
              async (knex) => {
                migrated.push(...(await migrateToLatest(knex, project.source(), project.migrations)));
                await connection.migrationFingerprints?.keepMigrationFingerprint(knex, table);
              },
              project.knex.factory,
            ),
          )
      : undefined,
  };
  // Resume from the step recorded: the steps before it are done.
  const reached = row.step ? Math.max(0, ADOPT_STEPS.indexOf(row.step as AdoptStep)) : 0;
  for (const step of ADOPT_STEPS.slice(reached)) {
    const action = steps[step];
    if (!action) continue;
    await updateTenantRow(registry.knex, row.id, { step });
    await ctx.hooks?.atStep?.(step);
    onProgress(step);
    try {
      await action();
    } catch (error) {
      const message = redact(`${step}: ${errorMessage(error)}`, [password ?? undefined]);
      await updateTenantRow(registry.knex, row.id, { last_error: message });
      throw new OperationError(
        row.slug,
        step,
        new Error(redact(errorMessage(error), [password ?? undefined])),
        'the tenant stays adopting; run adopt again to finish',
      );
    }
  }
  // A resumed run past adopt-read still reports the state the table holds.
  if (reached > ADOPT_STEPS.indexOf('adopt-read')) {
    const found = await withTenantKnex(connection, login, (knex) =>
      connection.driver.readAppliedOn(knex, table, row.database_name),
    );
    applied.push(...(found ?? []));
  }
  return { applied, migrated };
}

/**
 * tenantctl's own databases on a server: its scratch, verify and mark databases (`tenantctl_…`)
 * and the registry's, where the registry lives on that server. Never adopted.
 */
export function isTenantctlDatabase(ctx: Context, database: string): boolean {
  if (database.startsWith('tenantctl_') || database === 'tenantctl') return true;
  try {
    const url = new URL(ctx.config.registryUrl);
    return decodeURIComponent(url.pathname.slice(1)) === database;
  } catch {
    return false; // an embedded registry (a file): no database of a server
  }
}
