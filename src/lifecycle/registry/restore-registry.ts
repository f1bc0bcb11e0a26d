import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { HashingStream } from '../../core/hashing-stream.js';
import { sink } from '../../engines/dump-checks.js';
import { findBackupRow, finishBackupRow } from '../../registry/backups-repo.js';
import type { Context } from '../../context/context.js';
import { LockedError } from '../../core/errors.js';
import { dumpToolsFrom, type HeldLock } from '../../engines/engine-driver.js';
import { driverFor } from '../../engines/drivers.js';
import { describeServer, parseServerUrl } from '../../engines/server-spec.js';
import { openRegistry, type Registry } from '../../registry/registry.js';
import { LATEST_REGISTRY_MIGRATION } from '../../registry/schema/index.js';
import { listTenantRows } from '../../registry/tenants-repo.js';
import { tenantLockName } from '../shared/tenant-lock.js';
import { registryBackupFile } from './registry-backup-file.js';

/**
 * The registry locks a running tenantctl holds besides its tenants' (migration runs, key
 * rotation, placement, secret writes, the registry's own schema migrations).
 */
const FLEET_LOCKS = [
  'tenantctl:migrations',
  'tenantctl:rotate-key',
  'tenantctl:placement',
  'tenantctl:secret-writes',
  'tenantctl:registry-migrations',
];

export interface RestoreRegistryResult {
  /** The backup restored. */
  file: string;
  /** The registry database replaced, as `server show` describes one (no password). */
  registry: string;
  /** Tenants the restored registry knows. */
  tenants: number;
  /** The restored registry's schema after the automatic upgrade (an older tenantctl's backup is brought up to date). */
  schemaVersion: string;
  /** Whether the registry could be opened before the restore (when not, no tenantctl could hold its locks). */
  replacedReadable: boolean;
}

/**
 * Replaces the registry database (embedded SQLite, PostgreSQL or MySQL) with a backup of it
 * (`registry backup`, `backup --registry`): refused (LockedError) while another tenantctl holds
 * one of its locks, whose names it reads from the registry as it is. A registry that cannot be
 * opened (the disaster this is for) holds no lock. `from` is a file or an `s3://…` object of the
 * backup store (see registryBackupFile). The file is checked whole before anything is replaced.
 * Then the restored registry is opened as every command opens it (its schema upgraded).
 */
export async function restoreRegistry(ctx: Context, from: string): Promise<RestoreRegistryResult> {
  // Checked whole (an S3 object downloaded and decrypted) before the registry is touched.
  const backup = await registryBackupFile(ctx, from);
  try {
    return await restoreRegistryFrom(ctx, from, backup.file);
  } finally {
    backup.release();
  }
}

async function restoreRegistryFrom(ctx: Context, from: string, file: string): Promise<RestoreRegistryResult> {
  const current = await openRegistry(ctx.config.registryUrl, {
    migrate: false,
    connectTimeoutMs: ctx.config.connectTimeout * 1000,
  }).catch(() => undefined);
  const held = current ? await holdEveryLock(current) : [];
  const { driver, spec } = current ?? replacedSpec(ctx);
  try {
    await current?.knex.destroy(); // its queries' connections: nothing may use the database replaced
    await driver.restoreAt(spec, file, dumpToolsFrom(ctx.config));
  } finally {
    // On a server whose restore dropped the database, the locks' sessions ended with it.
    for (const lock of held) await lock.release().catch(() => undefined);
    await current?.close().catch(() => undefined);
  }
  const restored = await ctx.registry();
  await settleOwnRecord(restored, from, file);
  return {
    file: from,
    registry: describeServer(spec),
    tenants: (await listTenantRows(restored.knex)).length,
    schemaVersion: LATEST_REGISTRY_MIGRATION,
    replacedReadable: current !== undefined,
  };
}

/** Every lock this registry's commands take, held; LockedError naming the first another tenantctl holds. */
async function holdEveryLock(registry: Registry): Promise<HeldLock[]> {
  const slugs = await listTenantRows(registry.knex).then(
    (rows) => rows.map((r) => r.slug),
    () => [] as string[], // a registry without its tables: no tenant to lock
  );
  const held: HeldLock[] = [];
  for (const name of [...FLEET_LOCKS, ...slugs.map(tenantLockName)]) {
    const lock = await registry.tryLock(name, 0);
    if (!lock) {
      for (const h of held) await h.release();
      await registry.close();
      throw new LockedError(
        `another tenantctl holds the registry lock ${name}: the registry is not restored while it runs`,
      );
    }
    held.push(lock);
  }
  return held;
}

/**
 * The backup's own record, written before its dump began, says `running` in the copy the dump
 * holds: the dump finished (this file is it), so it is completed as the original was.
 */
async function settleOwnRecord(registry: Registry, location: string, plain: string): Promise<void> {
  const row = await findBackupRow(registry.knex, { file: location });
  if (row?.status !== 'running') return;
  // Of the plain dump, as every record's checksum is (an encrypted backup's too).
  const hashing = new HashingStream();
  await pipeline(createReadStream(plain), hashing, sink());
  await finishBackupRow(registry.knex, row.id, { status: 'ok', bytes: hashing.bytes, sha256: hashing.digest() });
}

/** The registry's driver and spec without opening it (it could not be opened). */
function replacedSpec(ctx: Context): Pick<Registry, 'driver' | 'spec'> {
  const spec = parseServerUrl(ctx.config.registryUrl);
  return { driver: driverFor(spec.engine), spec };
}
