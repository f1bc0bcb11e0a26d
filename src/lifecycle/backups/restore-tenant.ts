import { createReadStream, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { HashingStream } from '../../core/hashing-stream.js';
import { sink } from '../../engines/dump-checks.js';
import type { Context } from '../../context/context.js';
import { ConflictError, NotFoundError, OperationError, UsageError, errorMessage } from '../../core/errors.js';
import { EXISTING_SLUG, slugRuleOf, validateSlug } from '../../core/slug.js';
import { findBackupRow, latestGoodBackup, type BackupRow } from '../../registry/backups-repo.js';
import { findTenantRow, updateTenantRow, type Tenant, type TenantRow } from '../../registry/tenants-repo.js';
import { reloadTenant } from '../shared/load-tenant.js';
import { backupExtensions, driverForBackupFile } from '../../engines/drivers.js';
import { createTenant } from '../tenants/create-tenant.js';
import { assertMetadataAvailable, readIndexedKeys } from '../../registry/metadata-index-repo.js';
import { withTenantLock } from '../shared/tenant-lock.js';
import { disableScheduledJobs } from '../tenants/suspend-tenant.js';
import { assertNotMoving } from '../shared/tenant-moving.js';
import { checkedBackup } from './verify-backups.js';
import { isS3Url, storeOf } from '../../backup-store/index.js';
import { usersOf, dumpToolsFrom } from '../../engines/engine-driver.js';
import { driverFor } from '../../engines/drivers.js';
import type { Engine } from '../../engines/server-spec.js';
import { assertTenantCodeTrusted, tenantLogin, untrusted } from '../shared/tenant-login.js';
import { adminSetupOf } from '../../tenant-schema/admin-setup.js';
import { UserConsole } from '../../tenant-schema/user-console.js';
import { runAdminSetup } from '../shared/admin-setup.js';

export interface RestoreInput {
  slug: string;
  /** A backup file; default the tenant's latest good backup. */
  from?: string;
  /** Replace a database that has tables. */
  force?: boolean;
  /** Restore into a new tenant with this slug instead (a clone), created like `create`. */
  as?: string;
  /**
   * With `as`: the copy's server (by name), the labels placement must find, its display name and
   * metadata entries over the source's.
   */
  asServer?: string;
  asServerLabels?: Record<string, string>;
  asName?: string;
  asSet?: Record<string, string>;
  /**
   * `--from-untrusted-file`: restore a file that is none of this registry's recorded backups (no
   * recorded backup has its checksum). Without it such a file is refused (UsageError): whatever
   * it holds runs as the tenant's database user.
   */
  untrustedFile?: boolean;
}

export interface RestoreResult {
  tenant: Tenant;
  /** The backup restored. */
  backup: { id: number; file: string; sha256: string | null; takenAt: string };
  /** True when a database with tables was replaced. */
  replaced: boolean;
  cloned: boolean;
  /** The file was none of this registry's backups, restored because `untrustedFile` said so. */
  untrustedFile: boolean;
  durationMs: number;
}

export type RestoreProgress = (step: 'verify' | 'suspend' | 'replace' | 'restore' | 'reactivate') => void;

/**
 * Restores a tenant's database from a backup after checking the backup's checksum and that it
 * is complete. The tenant is kept out of use (suspended, its user locked) while its database is
 * replaced; a failure leaves it suspended with the error, and running restore again finishes.
 */
export async function restoreTenant(
  ctx: Context,
  input: RestoreInput,
  onStep: RestoreProgress = () => {},
): Promise<RestoreResult> {
  const started = Date.now();
  const slug = validateSlug(input.slug, EXISTING_SLUG);
  if (input.as !== undefined) validateSlug(input.as, slugRuleOf(ctx.config));
  const registry = await ctx.registry();
  const source = await findTenantRow(registry.knex, slug);
  if (!source && !input.from) throw new NotFoundError(`no tenant "${slug}" in the registry`);

  onStep('verify');
  const backup = await chooseBackup(ctx, slug, input.from, Boolean(input.untrustedFile));
  const untrustedFile = backup.id === 0;
  // Read whole from the store, decrypted and checked, before anything is touched.
  const checked = await checkedBackup(ctx, backup);
  if (typeof checked === 'string')
    throw new OperationError(slug, 'verify', new Error(`${backup.file}: ${checked}; refusing to restore it`));
  try {
    return await restoreChecked(ctx, input, slug, source, backup, checked.file, untrustedFile, started, onStep);
  } finally {
    checked.release();
  }
}

/** The restore proper, from `file`: the backup's plain dump, checked whole. */
async function restoreChecked(
  ctx: Context,
  input: RestoreInput,
  slug: string,
  source: TenantRow | undefined,
  backup: BackupRow,
  file: string,
  untrustedFile: boolean,
  started: number,
  onStep: RestoreProgress,
): Promise<RestoreResult> {
  const registry = await ctx.registry();
  const summary = { id: backup.id, file: backup.file, sha256: backup.sha256, takenAt: backup.started_at };

  if (input.as !== undefined) {
    // The clone's restore logs in as its own new user; without one, as the admin (see tenantLogin).
    if (!ctx.config.tenantUsers && driverFor(backup.engine as Engine).supportsUsers && !ctx.config.trustTenantCode)
      throw untrusted([input.as], 'restore --as');
    const metadata = { ...(source ? (JSON.parse(source.metadata) as Record<string, string>) : {}), ...input.asSet };
    await assertCloneMetadataFree(ctx, input.as, metadata, input.asSet ?? {});
    // Placed like create (--server, labels, placement), only on a server of the backup's engine.
    const created = await createTenant(ctx, {
      slug: input.as,
      name: input.asName,
      plan: source?.plan ?? undefined,
      metadata,
      restoreFrom: file, // placement takes only a server of the backup's engine (restoreEngine)
      restoreEngine: backup.engine,
      server: input.asServer,
      serverLabels: input.asServerLabels,
    });
    return {
      tenant: created.tenant,
      backup: summary,
      replaced: false,
      cloned: true,
      untrustedFile,
      durationMs: Date.now() - started,
    };
  }

  if (!source) throw new NotFoundError(`no tenant "${slug}" in the registry`);
  if (!['active', 'suspended'].includes(source.status)) {
    throw new ConflictError(
      `tenant "${slug}" is ${source.status}: only an active or suspended tenant can be restored (use --as to restore into a new tenant)`,
    );
  }
  assertNotMoving(source, 'restored');
  await assertTenantCodeTrusted(ctx, [source], 'restore');
  return withTenantLock(ctx, slug, async () => {
    const handle = await ctx.server(source.server_id);
    const server = handle.connection;
    await engineChecked(ctx, backup, file, source);
    // Credentials the restore tool cannot be given would fail it after the database was replaced:
    // refused before anything is touched, with what to change.
    const refused = handle.spec.password && server.driver.refusedPassword(handle.spec.password);
    if (refused)
      throw new UsageError(
        `server "${handle.row.name}": its admin password cannot be used to restore: ${refused} (tenantctl server update ${handle.row.name} --password-stdin); nothing was changed`,
      );
    // A restore interrupted earlier recorded itself: its half-restored database may be replaced.
    const resuming = source.step === 'restore';
    const tables = (await server.databaseExists(source.database_name))
      ? await server.listTables(source.database_name)
      : [];
    if (tables.length > 0 && !input.force && !resuming) {
      throw new ConflictError(
        `database "${source.database_name}" has ${tables.length} tables; use --force to replace it with the backup`,
      );
    }
    // The status to return to: an interrupted restore recorded the original in previous_status.
    const returnTo = resuming ? (source.previous_status ?? 'suspended') : source.status;

    onStep('suspend');
    await updateTenantRow(registry.knex, source.id, {
      status: 'suspended',
      step: 'restore',
      previous_status: returnTo,
      status_reason: `restoring from backup (was ${returnTo})`,
      last_error: null,
    });
    try {
      await server.suspendAccess(source.database_name, source.database_user);
      onStep('replace');
      await server.dropDatabase(source.database_name);
      await server.createDatabase(source.database_name);
      await server.markDatabase(source.database_name, await registry.mark());
      if (source.database_user) await usersOf(server).grantDatabase(source.database_user, source.database_name);
      // What only the admin may do (an extension the dump names) is done on the new database first.
      const setup = await adminSetupOf(ctx);
      if (setup) {
        const target = { ...source, database: source.database_name, user: source.database_user };
        await new UserConsole().run(() => runAdminSetup(ctx, server, target, setup));
      }
      onStep('restore');
      // As the tenant's own user, borrowed while its account is locked for the restore.
      const login = tenantLogin(ctx, handle, { ...source, status: 'suspended' });
      await server.restore(login, file, dumpToolsFrom(ctx.config));
      await server.markDatabase(source.database_name, await registry.mark()); // a backup older than marks
      if (returnTo === 'suspended') await disableScheduledJobs(server, source, registry.knex);
      onStep('reactivate');
      if (returnTo === 'active') await server.resumeAccess(source.database_name, source.database_user);
    } catch (error) {
      await updateTenantRow(registry.knex, source.id, { last_error: `restore: ${errorMessage(error)}` });
      throw new OperationError(slug, 'restore', error, 'the tenant stays suspended; run restore again to finish');
    }
    await updateTenantRow(registry.knex, source.id, {
      status: returnTo,
      step: null,
      previous_status: null,
      status_reason: returnTo === 'suspended' ? source.status_reason : null,
    });
    return {
      tenant: await reloadTenant(ctx, slug),
      backup: summary,
      replaced: tables.length > 0,
      cloned: false,
      untrustedFile,
      durationMs: Date.now() - started,
    };
  });
}

/**
 * The backup named by --from, else the tenant's latest good one. A file is one of this registry's
 * backups when it is recorded under its path, or a copy of one (a recorded good backup has its
 * checksum); any other file is refused unless `untrusted` (then returned with id 0).
 */
async function chooseBackup(
  ctx: Context,
  slug: string,
  from: string | undefined,
  untrusted: boolean,
): Promise<BackupRow> {
  const registry = await ctx.registry();
  if (!from) {
    const latest = await latestGoodBackup(registry.knex, slug);
    if (!latest)
      throw new NotFoundError(`tenant "${slug}" has no good backup; take one with: tenantctl backup ${slug}`);
    return latest;
  }
  return namedBackup(ctx, slug, from, untrusted);
}

/**
 * A clone takes its source's metadata: an indexed value (unique per key) would clash with the
 * source's own. Refused before anything is created, naming the flag that gives the copy its own.
 */
async function assertCloneMetadataFree(
  ctx: Context,
  copy: string,
  metadata: Record<string, unknown>,
  set: Record<string, string>,
): Promise<void> {
  const registry = await ctx.registry();
  const indexedKeys = await readIndexedKeys(registry.knex);
  // A failed earlier clone of the same slug holds its own values: not a clash.
  const earlier = await findTenantRow(registry.knex, copy);
  try {
    await assertMetadataAvailable(registry.knex, indexedKeys, metadata, earlier?.id);
  } catch (error) {
    if (!(error instanceof ConflictError)) throw error;
    const clashing = indexedKeys.filter((key) => key in metadata && !(key in set));
    const hint = clashing.length
      ? `; give the copy its own with ${clashing.map((key) => `--set ${key}=<value>`).join(' ')}`
      : '';
    throw new ConflictError(`restore --as: ${errorMessage(error)}${hint}; nothing was created`);
  }
}

/** A backup restores only onto its own engine; returns its (checked, plain) file. */
async function engineChecked(ctx: Context, backup: BackupRow, file: string, target?: TenantRow): Promise<string> {
  const engine = target
    ? (await ctx.server(target.server_id)).connection.driver.engine
    : ctx.defaultServerSpec().engine;
  if (backup.engine !== engine)
    throw new UsageError(`${backup.file} is a ${backup.engine} backup; it cannot be restored onto ${engine}`);
  return file;
}

/**
 * `--from <file | s3://…>`: a recorded backup named by its location, or a copy of one (an off-site
 * copy brought back, found by its checksum); any other file only with `untrusted`, since nothing
 * vouches for what it holds.
 */
async function namedBackup(ctx: Context, slug: string, from: string, untrusted: boolean): Promise<BackupRow> {
  const registry = await ctx.registry();
  const store = isS3Url(from) ? storeOf(ctx.config, from) : undefined;
  const location = store ? from : resolve(from);
  const asRead = (row: BackupRow): BackupRow => ({
    ...row,
    file: location,
    bytes: row.bytes === null ? null : Number(row.bytes),
  });
  const recorded = await findBackupRow(registry.knex, { file: location });
  if (recorded) return asRead(recorded);
  if (!(store ? await store.exists(location) : existsSync(location)))
    throw new UsageError(`backup ${location} does not exist`);
  const engine = driverForBackupFile(location)?.engine;
  if (!engine) throw new UsageError(`${location}: not a tenantctl backup (expected ${backupExtensions()})`);
  const hashing = new HashingStream();
  await pipeline(store ? await store.read(location) : createReadStream(location), hashing, sink());
  const sha256 = hashing.digest();
  const copy = await findBackupRow(registry.knex, { sha256, status: 'ok' });
  if (copy) return asRead(copy);
  if (!untrusted)
    throw new UsageError(
      `${location} is not one of this registry's backups (no recorded backup has its checksum): restoring it runs whatever it holds as the tenant's database user. Check where it comes from, then pass --from-untrusted-file to restore it anyway`,
    );
  const tenant = await findTenantRow(registry.knex, slug);
  return {
    id: 0,
    tenant_id: tenant?.id ?? null,
    slug,
    status: 'ok',
    file: location,
    bytes: null,
    sha256,
    engine,
    server_version: null,
    migration: null,
    started_at: '',
    finished_at: null,
    duration_ms: null,
    error: null,
  };
}
