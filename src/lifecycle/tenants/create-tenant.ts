import { existsSync } from 'node:fs';
import type { Knex } from 'knex';
import type { Context, ServerHandle } from '../../context/context.js';
import { ConflictError, OperationError, UsageError, errorMessage } from '../../core/errors.js';
import { generatePassword, redact } from '../../core/secrets.js';
import { slugRuleOf, validateSlug } from '../../core/slug.js';
import { validateText } from '../../core/text-limits.js';
import { assertMetadataAvailable, readIndexedKeys, writeMetadataIndex } from '../../registry/metadata-index-repo.js';
import {
  findTenantByDatabase,
  findTenantRow,
  insertTenantRow,
  now,
  toTenant,
  updateTenantRow,
  type Tenant,
  type TenantRow,
} from '../../registry/tenants-repo.js';
import { migrateToLatest } from '../../tenant-schema/run-migrations.js';
import type { KnexUsed } from '../../tenant-schema/project-knex.js';
import { assertProjectDirectories, tenantProject, type TenantProject } from '../../tenant-schema/tenant-project.js';
import { UserConsole } from '../../tenant-schema/user-console.js';
import { runSeedFiles } from '../../tenant-schema/run-seeds.js';
import { adminSetupOf } from '../../tenant-schema/admin-setup.js';
import { permissionHint, runAdminSetup } from '../shared/admin-setup.js';
import { withTenantLock } from '../shared/tenant-lock.js';
import { dropTenantDatabase, withTenantKnex } from '../shared/tenant-database.js';
import { tenantNames } from '../shared/tenant-names.js';
import { tenantLogin } from '../shared/tenant-login.js';
import { placeTenant, withPlacementLock } from '../servers/place-tenant.js';
import { usersOf, dumpToolsFrom } from '../../engines/engine-driver.js';
import type { TemplateRow } from '../../registry/templates-repo.js';
import { readyTemplate } from '../templates/build-template.js';
import { databaseErrorDetail, describeErrorDetail } from '../../engines/error-detail.js';

export interface CreateTenantInput {
  slug: string;
  /** Display name; defaults to the slug. */
  name?: string;
  plan?: string;
  /** Free-form metadata, merged over what a retried tenant already had. */
  metadata?: Record<string, unknown>;
  /** Run the seeds after the migrations. Default true. */
  seed?: boolean;
  /**
   * A verified backup file to fill the database from, instead of migrations and seeds (the
   * `restore --as` clone). It must be of the target server's engine.
   */
  restoreFrom?: string;
  /** With `restoreFrom`: the backup's engine; placement takes only a server of that engine. */
  restoreEngine?: string;
  /** `--server`: the server to create it on, by registry name. */
  server?: string;
  /** `--server-label k=v`: place it only on a server carrying these labels. */
  serverLabels?: Record<string, string>;
  /** `--replay`: run every migration instead of cloning the server's schema template. */
  replay?: boolean;
}

/**
 * The steps of `create`, in the order they can run; each is recorded in the registry (`step`)
 * before it runs. `setup` (the project's adminSetup, as the server's admin) runs only where one is
 * configured. A clone runs `restore` in place of `migrations` and `seeds`. From a schema template
 * (README "Templates"), `database` copies the template and `clone` gives the copy to the tenant,
 * in place of `migrations`.
 */
export const CREATE_STEPS = ['database', 'user', 'setup', 'clone', 'migrations', 'seeds', 'restore'] as const;
export type CreateStep = (typeof CREATE_STEPS)[number];

export interface CreateProgress {
  step: CreateStep | 'cleanup';
  phase: 'start' | 'done' | 'skipped';
}

export interface CreateTenantResult {
  tenant: Tenant;
  /** True when this run took over a tenant left `failed` or `provisioning` by an earlier one. */
  retried: boolean;
  serverVersion: string;
  /** Why the tenant went to its server (placement), in one line. */
  placement: string;
  migrations: string[];
  seeds: string[];
  /** What each seed returned, by file (e.g. a generated first-admin password); files returning nothing left out. */
  seedValues: Record<string, unknown>;
  /** The knex that ran the migrations and seeds (the project's own where it has one). */
  knex: KnexUsed;
  /** The project's knexfile whose settings the migrations and seeds ran with, or null. */
  knexfile: string | null;
  /** The adminSetup run as the server's admin before the migrations (its file), or null. */
  adminSetup: string | null;
  /** Why there were no migrations, when no directory was given and the default one is absent. */
  migrationsNote?: string;
  /** The schema template the database was copied from (null: the migrations were replayed). */
  template: { database: string; built: boolean } | null;
  /** Why the migrations were replayed although templates are on (a build that failed, an adminSetup). */
  templateNote?: string;
  /** What the migrations and seeds printed (console.log & co., sent to stderr as they ran), capped; absent: none. */
  log?: string[];
  durationMs: number;
}

/**
 * Creates a tenant: registry row (`provisioning`) → database → user → migrations → seeds →
 * `active`. Any failure drops what was created and leaves the row `failed` with the error; a
 * `failed` or killed (`provisioning`) tenant is cleaned up and created afresh by running it again.
 */
export async function createTenant(
  ctx: Context,
  input: CreateTenantInput,
  onProgress: (event: CreateProgress) => void = () => {},
): Promise<CreateTenantResult> {
  const started = Date.now();
  const slug = validateSlug(input.slug, slugRuleOf(ctx.config));
  validateText('name', input.name);
  validateText('plan', input.plan);
  // The knexfile (user code) and the directories are checked before anything is created: exit 2.
  assertProjectDirectories(await tenantProject(ctx), {
    migrations: !input.restoreFrom,
    seeds: input.seed !== false && !input.restoreFrom,
  });
  await adminSetupOf(ctx); // loaded (and a missing file refused, exit 2) before anything is created
  const registry = await ctx.registry();
  return withTenantLock(ctx, slug, async () => {
    const existing = await findTenantRow(registry.knex, slug);
    if (existing) assertRetryable(existing);
    const metadata = { ...(existing ? JSON.parse(existing.metadata) : {}), ...input.metadata } as Record<
      string,
      unknown
    >;
    const indexedKeys = await readIndexedKeys(registry.knex);
    await assertMetadataAvailable(registry.knex, indexedKeys, metadata, existing?.id);
    const claimed = existing
      ? await retakeEarlierAttempt(ctx, existing, input, metadata, onProgress)
      : await placeNewTenant(ctx, slug, input, metadata);
    try {
      await writeMetadataIndex(registry, claimed.row.id, indexedKeys, metadata);
    } catch (error) {
      // Another tenant took an indexed value since the check: nothing was created on the server.
      await updateTenantRow(registry.knex, claimed.row.id, { status: 'failed', last_error: errorMessage(error) });
      throw error;
    }
    const serverVersion = await claimed.server.version();
    const filled = await runCreateSteps(ctx, input, claimed, onProgress);
    await updateTenantRow(registry.knex, claimed.row.id, { status: 'active', step: null, last_error: null });
    const created = (await findTenantRow(registry.knex, slug))!;
    return {
      tenant: toTenant(created, claimed.server.row.name),
      retried: existing !== undefined,
      serverVersion,
      placement: claimed.placement,
      ...filled,
      durationMs: Date.now() - started,
    };
  });
}

/** The tenant's row (`provisioning`), its server, and the names and password it is created with. */
interface Claimed {
  row: TenantRow;
  server: ServerHandle;
  /** Why that server, in one line. */
  placement: string;
  names: { database: string; user: string | null };
  password: string | null;
}

/**
 * A `failed` or killed tenant is taken over where its earlier attempt started: what that attempt
 * recorded it had started is dropped, and the row is reset to `provisioning` with new names and
 * a new password.
 */
async function retakeEarlierAttempt(
  ctx: Context,
  existing: TenantRow,
  input: CreateTenantInput,
  metadata: Record<string, unknown>,
  onProgress: (event: CreateProgress) => void,
): Promise<Claimed> {
  const registry = await ctx.registry();
  const slug = existing.slug;
  const server = await ctx.server(existing.server_id);
  if (input.server && input.server !== server.row.name) {
    throw new UsageError(
      `tenant "${slug}" was started on server "${server.row.name}": retry it there, or delete it with --purge first`,
    );
  }
  const names = tenantNames(ctx.config, server.connection.driver, slug, metadata);
  const password = names.user ? generatePassword() : null;
  onProgress({ step: 'cleanup', phase: 'start' });
  // Undo what the earlier attempt recorded it had started, under the names it used; what
  // it never reached is not ours to drop.
  const reached = existing.step ? CREATE_STEPS.indexOf(existing.step as CreateStep) : -1;
  const problems = await dropTenantDatabase(
    server.connection,
    reached >= 0 ? existing.database_name : null,
    reached >= 1 ? existing.database_user : null,
  );
  if (problems.length) throw new OperationError(slug, 'cleanup', problems[0]);
  await assertNamesFree(ctx, server, names.database, names.user, existing.id);
  onProgress({ step: 'cleanup', phase: 'done' });
  await ctx.withEncrypted(password, (encrypted) =>
    updateTenantRow(registry.knex, existing.id, {
      status: 'provisioning',
      step: null,
      name: input.name ?? existing.name,
      plan: input.plan ?? existing.plan,
      metadata: JSON.stringify(metadata),
      database_name: names.database,
      database_user: names.user,
      password_enc: encrypted,
      key_fingerprint: null,
      password_pending_enc: null,
      password_changed_at: password ? now() : null,
      last_error: null,
    }),
  );
  const row = (await findTenantRow(registry.knex, slug))!;
  return { row, server, placement: 'where the earlier attempt started', names, password };
}

/**
 * A new tenant: placement chooses its server and its row is recorded (`provisioning`) as one
 * step for the fleet, so that creates running at once count each other against capacity.
 */
async function placeNewTenant(
  ctx: Context,
  slug: string,
  input: CreateTenantInput,
  metadata: Record<string, unknown>,
): Promise<Claimed> {
  const registry = await ctx.registry();
  return withPlacementLock(ctx, async () => {
    const placed = await placeTenant(ctx, {
      server: input.server,
      labels: input.serverLabels,
      engine: input.restoreEngine,
    });
    const names = tenantNames(ctx.config, placed.server.connection.driver, slug, metadata);
    const password = names.user ? generatePassword() : null;
    await assertNamesFree(ctx, placed.server, names.database, names.user);
    const row = await ctx.withEncrypted(password, (encrypted) =>
      insertTenantRow(registry.knex, {
        slug,
        name: input.name ?? slug,
        status: 'provisioning',
        step: null,
        server_id: placed.server.row.id,
        database_name: names.database,
        database_user: names.user,
        password_enc: encrypted,
        password_changed_at: password ? now() : null,
        plan: input.plan ?? null,
        metadata: JSON.stringify(metadata),
        last_error: null,
        status_reason: null,
      }),
    );
    return { server: placed.server, placement: placed.reason, names, password, row };
  });
}

/**
 * Runs the steps of CREATE_STEPS that apply, each recorded on the row before it runs; a failure
 * undoes the create (failCreate) and throws. Returns what the migrations and seeds ran, and how.
 */
async function runCreateSteps(
  ctx: Context,
  input: CreateTenantInput,
  claimed: Claimed,
  onProgress: (event: CreateProgress) => void,
): Promise<
  Pick<
    CreateTenantResult,
    | 'migrations'
    | 'seeds'
    | 'seedValues'
    | 'knex'
    | 'knexfile'
    | 'adminSetup'
    | 'log'
    | 'migrationsNote'
    | 'template'
    | 'templateNote'
  >
> {
  const registry = await ctx.registry();
  const { row, server, names, password } = claimed;
  const migrations: string[] = [];
  const seeds: string[] = [];
  let seedValues: Record<string, unknown> = {};
  const project = await tenantProject(ctx);
  const userKnex = project.knex;
  const fromBackup = input.restoreFrom;
  const setup = await adminSetupOf(ctx);
  // Migrations, seeds and a clone's restore run logged in as the new tenant's own user. Without
  // one (tenantUsers: false) the admin may fill a database this run just created, but a
  // backup's content is the tenant's code (see tenantLogin).
  const login = tenantLogin(
    ctx,
    server,
    { ...row, database_name: names.database, database_user: names.user },
    { fresh: !fromBackup },
  );
  const userConsole = new UserConsole();
  const schemaWork = (work: (knex: Knex) => Promise<void>) => () =>
    userConsole.run(() => withTenantKnex(server.connection, login, work, userKnex.factory));
  const chosen = await chooseTemplate(ctx, server, input, Boolean(setup));
  const template = chosen.template;
  const steps: Record<CreateStep, (() => Promise<unknown>) | undefined> = {
    database: async () => {
      if (template) await server.connection.templates.cloneDatabase(template.database_name, names.database);
      else await server.connection.createDatabase(names.database);
      await server.connection.markDatabase(names.database, await registry.mark());
    },
    user: names.user ? () => usersOf(server.connection).createUser(names.user!, password!, names.database) : undefined,
    // As the server's admin, before anything of the tenant's runs (a clone's restore needs it too).
    setup: setup
      ? () =>
          userConsole.run(() =>
            runAdminSetup(ctx, server.connection, { ...row, database: names.database, user: names.user }, setup),
          )
      : undefined,
    clone: template
      ? async () => {
          await server.connection.templates.finishClone(
            { database: template.database_name, user: template.database_user },
            login,
            project.table,
          );
          // As a replayed create ends: the fingerprint kept, the applied names read back.
          await withTenantKnex(server.connection, login, async (knex) => {
            await server.connection.migrationFingerprints?.keepMigrationFingerprint(knex, project.table);
            migrations.push(
              ...((await server.connection.driver.readAppliedOn(knex, project.table, names.database)) ?? []),
            );
          });
        }
      : undefined,
    migrations:
      fromBackup || template
        ? undefined
        : schemaWork(async (knex) => {
            migrations.push(...(await migrateToLatest(knex, project.source(), project.migrations)));
            await server.connection.migrationFingerprints?.keepMigrationFingerprint(knex, project.table);
          }),
    seeds:
      fromBackup || input.seed === false
        ? undefined
        : schemaWork(async (knex) => {
            const tenant = { slug: row.slug, name: row.name, plan: row.plan, metadata: JSON.parse(row.metadata) };
            const run = await runSeedFiles(knex, project.seedsDir, tenant, {
              ...(project.seedExtensions ? { extensions: project.seedExtensions } : {}),
            });
            seeds.push(...run.files);
            seedValues = run.returned;
          }),
    restore: fromBackup
      ? async () => {
          await server.connection.restore(login, fromBackup, dumpToolsFrom(ctx.config));
          await server.connection.markDatabase(names.database, await registry.mark()); // a backup older than marks
        }
      : undefined,
  };
  for (const step of CREATE_STEPS) {
    const action = steps[step];
    if (!action) {
      onProgress({ step, phase: 'skipped' });
      continue;
    }
    await updateTenantRow(registry.knex, row.id, { step });
    await ctx.hooks?.atStep?.(`create-${step}`);
    onProgress({ step, phase: 'start' });
    try {
      await action();
    } catch (error) {
      throw await failCreate(ctx, server, row.id, row.slug, names, step, error, password);
    }
    onProgress({ step, phase: 'done' });
  }
  const log = userConsole.log();
  const note = noMigrationsNote(project, Boolean(fromBackup));
  return {
    migrations,
    seeds,
    seedValues,
    knex: userKnex.used,
    knexfile: project.knexfile,
    adminSetup: setup?.file ?? null,
    template: template ? { database: template.database_name, built: chosen.built } : null,
    ...(chosen.note ? { templateNote: chosen.note } : {}),
    ...(note ? { migrationsNote: note } : {}),
    ...(log ? { log } : {}),
  };
}

/**
 * The schema template to copy, built first where there is none (README "Templates"); none for a
 * restore, `--replay`, `templates: off`, or with an adminSetup (it is run per tenant, before the
 * migrations). A template that cannot be built is a note, never a failed create: it replays.
 */
async function chooseTemplate(
  ctx: Context,
  server: ServerHandle,
  input: CreateTenantInput,
  withSetup: boolean,
): Promise<{ template: TemplateRow | null; built: boolean; note?: string }> {
  if (input.restoreFrom || input.replay || !ctx.config.templates) return { template: null, built: false };
  if (withSetup)
    return { template: null, built: false, note: 'templates are not used with an adminSetup: migrations replayed' };
  try {
    const ready = await readyTemplate(ctx, server);
    return { template: ready.row, built: ready.built };
  } catch (error) {
    return { template: null, built: false, note: `template not built (${errorMessage(error)}): migrations replayed` };
  }
}

/** "No migrations" said once, and only where it is not a mistake: nothing given, no default directory. */
function noMigrationsNote(project: TenantProject, restored: boolean): string | undefined {
  if (restored || project.origins.migrations !== 'default' || existsSync(project.migrationsDir)) return undefined;
  return `no migrations directory (${project.migrationsDir}) and none configured (migrationsDir, knexfile)`;
}

function assertRetryable(row: TenantRow): void {
  if (row.status === 'failed' || row.status === 'provisioning') return;
  if (row.status === 'deleted') {
    throw new ConflictError(
      `tenant "${row.slug}" was deleted; its record is kept for history (purge it to reuse the slug)`,
    );
  }
  if (row.status === 'deleting')
    throw new ConflictError(`tenant "${row.slug}" is being deleted; run delete again to finish`);
  throw new ConflictError(`tenant "${row.slug}" already exists (${row.status})`);
}

/** A new tenant must not take over a database or user that something else already owns. */
async function assertNamesFree(
  ctx: Context,
  server: ServerHandle,
  database: string,
  user: string | null,
  ownId?: number,
): Promise<void> {
  const registry = await ctx.registry();
  const owner = await findTenantByDatabase(registry.knex, server.row.id, database);
  if (owner && owner.id !== ownId)
    throw new ConflictError(`database "${database}" already belongs to tenant "${owner.slug}"`);
  if (await server.connection.databaseExists(database)) {
    throw new ConflictError(
      `database "${database}" already exists on server "${server.row.name}" but belongs to no tenant; it is left alone`,
    );
  }
  if (user && (await usersOf(server.connection).userExists(user))) {
    throw new ConflictError(
      `database user "${user}" already exists on server "${server.row.name}" but belongs to no tenant; it is left alone`,
    );
  }
}

/** Undoes a failed create and records why; returns the error to throw. */
async function failCreate(
  ctx: Context,
  server: ServerHandle,
  id: number,
  slug: string,
  names: { database: string; user: string | null },
  step: CreateStep,
  error: unknown,
  password: string | null,
): Promise<OperationError> {
  const problems = await dropTenantDatabase(server.connection, names.database, names.user);
  const cleanup = problems.length
    ? `cleanup incomplete, run create again to finish it: ${problems.map(errorMessage).join('; ')}`
    : undefined;
  // The database's own words (PostgreSQL's detail, hint, constraint) go with the message.
  const hide = (text: string) => redact(text, [password ?? undefined]);
  const detail = databaseErrorDetail(error);
  const hint =
    step === 'migrations' || step === 'seeds' ? permissionHint(server.connection.driver, error, names.user) : '';
  const said = `${errorMessage(error)}${describeErrorDetail(detail)}${hint}`;
  const message = hide(`${step}: ${said}${cleanup ? ` (${cleanup})` : ''}`);
  const registry = await ctx.registry();
  await updateTenantRow(registry.knex, id, { status: 'failed', last_error: message });
  const failed = new OperationError(slug, step, new Error(hide(said)), cleanup);
  if (detail) failed.detail = Object.fromEntries(Object.entries(detail).map(([k, v]) => [k, hide(v)]));
  return failed;
}
