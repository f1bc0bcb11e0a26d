import { randomBytes } from 'node:crypto';
import type { Context, ServerHandle } from '../../context/context.js';
import { LockedError } from '../../core/errors.js';
import { generatePassword } from '../../core/secrets.js';
import { usersOf, type TenantLogin } from '../../engines/engine-driver.js';
import {
  deleteTemplateRow,
  findReadyTemplate,
  insertTemplateRow,
  listTemplateRows,
  markTemplateReady,
  type TemplateRow,
} from '../../registry/templates-repo.js';
import { migrateToLatest } from '../../tenant-schema/run-migrations.js';
import { tenantProject } from '../../tenant-schema/tenant-project.js';
import { UserConsole } from '../../tenant-schema/user-console.js';
import { withTenantKnex } from '../shared/tenant-database.js';
import { templateKey } from './template-key.js';

/** Template databases (and users) are named so: tenantctl's own, never a tenant's or adoptable. */
export const TEMPLATE_PREFIX = 'tenantctl_tpl_';

/** The registry lock one build of a server's template holds (and doctor's repair of its templates). */
export const templateLockName = (serverId: number) => `template:${serverId}`;

/** How long a create waits for another run's build of the same server's template. */
const BUILD_WAIT_MS = 300_000;

export interface ReadyTemplate {
  row: TemplateRow;
  /** True when this call built it. */
  built: boolean;
  /** Stale templates of the server dropped after the build. */
  dropped: string[];
}

/**
 * The server's template for the present migration state, built first when there is none
 * (`rebuild`: built again even so). One build per server at a time (a registry lock); a build
 * killed half-way left its row `building`, which the next build, holding the lock, drops.
 */
export async function readyTemplate(
  ctx: Context,
  server: ServerHandle,
  options: { rebuild?: boolean } = {},
): Promise<ReadyTemplate> {
  const registry = await ctx.registry();
  const key = await templateKey(ctx, server);
  const found = options.rebuild ? undefined : await findReadyTemplate(registry.knex, server.row.id, key.key);
  if (found) return { row: found, built: false, dropped: [] };
  const lock = await registry.tryLock(templateLockName(server.row.id), BUILD_WAIT_MS);
  if (!lock) throw new LockedError(`another tenantctl is building the template of server "${server.row.name}"`);
  try {
    const again = options.rebuild ? undefined : await findReadyTemplate(registry.knex, server.row.id, key.key);
    if (again) return { row: again, built: false, dropped: [] };
    const rows = await listTemplateRows(registry.knex, server.row.id);
    // Under the lock, a `building` row is a killed build's: its leftovers go.
    for (const row of rows.filter((r) => r.state === 'building')) await dropTemplateRow(ctx, server, row);
    const row = await buildTemplate(ctx, server, key);
    const dropped: string[] = [];
    for (const stale of rows.filter((r) => r.state === 'ready')) {
      await dropTemplateRow(ctx, server, stale);
      dropped.push(stale.database_name);
    }
    return { row, built: true, dropped };
  } finally {
    await lock.release();
  }
}

async function buildTemplate(
  ctx: Context,
  server: ServerHandle,
  key: Awaited<ReturnType<typeof templateKey>>,
): Promise<TemplateRow> {
  const started = Date.now();
  const registry = await ctx.registry();
  const project = await tenantProject(ctx);
  const connection = server.connection;
  const name = `${TEMPLATE_PREFIX}${randomBytes(6).toString('hex')}`;
  const user = connection.driver.supportsUsers && ctx.config.tenantUsers ? name : null;
  // Recorded before anything is made, so that a kill leaves something to find and drop.
  const row = await insertTemplateRow(registry.knex, {
    server_id: server.row.id,
    template_key: key.key,
    database_name: name,
    database_user: user,
    migration_fingerprint: key.fingerprint,
    migrations: key.migrations.length,
    server_version: key.serverVersion,
  });
  try {
    await connection.createDatabase(name);
    const password = user ? generatePassword() : null;
    if (user) await usersOf(connection).createUser(user, password!, name);
    // Migrated as create migrates a tenant: logged in as a user of its own, with the project's knex.
    const login: TenantLogin = {
      database: name,
      user,
      open: async () => ({ user, passwords: password ? [password] : [], release: async () => {} }),
    };
    await new UserConsole().run(() =>
      withTenantKnex(
        connection,
        login,
        async (knex) => {
          await migrateToLatest(knex, project.source(), project.migrations);
          await connection.migrationFingerprints?.keepMigrationFingerprint(knex, project.table);
        },
        project.knex.factory,
      ),
    );
    // Migrated, not yet sealed nor ready: a build killed here must never be cloned.
    await ctx.hooks?.atStep?.('template-seal');
    await connection.templates.sealTemplate(name, user);
    const buildMs = Date.now() - started;
    await markTemplateReady(registry.knex, row.id, buildMs);
    return { ...row, state: 'ready', build_ms: buildMs };
  } catch (error) {
    await dropTemplateRow(ctx, server, row).catch(() => undefined);
    throw error;
  }
}

/** Drops a template's database and user, then its row. */
export async function dropTemplateRow(ctx: Context, server: ServerHandle, row: TemplateRow): Promise<void> {
  const registry = await ctx.registry();
  await server.connection.templates.dropTemplate(row.database_name, row.database_user);
  await deleteTemplateRow(registry.knex, row.id);
}
