import { pipeline } from 'node:stream/promises';
import type { Context, ServerHandle } from '../../context/context.js';
import { OperationError, TamperedTableError, errorMessage } from '../../core/errors.js';
import { HashingStream } from '../../core/hashing-stream.js';
import { runPool } from '../../core/run-pool.js';
import { stoppedBy, stopping, untilCut, type RunInterrupt } from '../../core/run-interrupt.js';
import {
  ignoreProgress,
  progressCounter,
  type FleetProgress,
  type FleetRun,
  type UnreachableServer,
} from '../../core/fleet-run.js';
import { isOutage, outageMessage, reachFleet, runOutages, serverLimit } from '../shared/fleet-servers.js';
import { adminLogin, dumpToolsFrom } from '../../engines/engine-driver.js';
import { finishBackupRow, findBackupRow, startBackupRow, type BackupRow } from '../../registry/backups-repo.js';
import type { TenantRow, TenantWithServer } from '../../registry/tenants-repo.js';
import { tenantProject } from '../../tenant-schema/tenant-project.js';
import { countedDump, parseRowCounts, type RecordedRowCounts } from './backup-row-counts.js';
import { clearInterruptedBackups } from './interrupted-backups.js';
import { configuredStore, encryptsBackups, type StoreWriter } from '../../backup-store/index.js';
import { EncryptingStream } from '../../core/backup-cipher.js';
import { withNewDataKey, type DataKey } from './backup-keys.js';
import { selectTenants, type TenantSelection } from '../shared/select-tenants.js';
import { assertTenantCodeTrusted, tenantLogin } from '../shared/tenant-login.js';
import { freshTenant } from '../shared/fresh-tenant.js';
import { ifTenantFree, openTenantLockPool } from '../shared/tenant-lock-pool.js';

/** A dump stopped from outside (see recordedDump's `cut`). */
class DumpCut extends Error {}

/** A backup as commands return it. */
export interface Backup {
  id: number;
  slug: string;
  status: string;
  file: string;
  bytes: number | null;
  sha256: string | null;
  engine: string;
  serverVersion: string | null;
  migration: string | null;
  /** Each table's exact row count when the backup was taken; null where unknown. */
  rowCounts: RecordedRowCounts | null;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  error: string | null;
  /** Encrypted (AES-256-GCM under a data key of its own, wrapped by the registry key). */
  encrypted: boolean;
  /**
   * Something about the tenant's database worth an operator's look that did not stop the backup:
   * its migration table is not a plain table (tampered with), so no migration is recorded.
   */
  warning?: string;
}

export function toBackup(row: BackupRow): Backup {
  return {
    id: row.id,
    slug: row.slug,
    status: row.status,
    file: row.file,
    bytes: row.bytes,
    sha256: row.sha256,
    engine: row.engine,
    serverVersion: row.server_version,
    migration: row.migration,
    rowCounts: parseRowCounts(row.row_counts ?? null),
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    durationMs: row.duration_ms,
    error: row.error,
    encrypted: Boolean(row.data_key_enc),
  };
}

/** `20261123T164501Z`: sortable, and safe in a file name everywhere. */
function fileTimestamp(date = new Date()): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/**
 * Where a backup of `slug` goes in the configured store: `<store>/<slug>/<name>-<UTC time>.<ext>`
 * (`name` defaults to the slug), never an existing name.
 */
async function backupFileFor(ctx: Context, slug: string, extension: string, name = slug): Promise<string> {
  const registry = await ctx.registry();
  const store = configuredStore(ctx.config);
  const base = `${name}-${fileTimestamp()}`;
  // Two backups of one tenant in the same second (a retry, a script): never overwrite.
  let file = store.locationFor(slug, `${base}.${extension}`);
  for (let n = 2; (await findBackupRow(registry.knex, { file })) || (await store.exists(file)); n++)
    file = store.locationFor(slug, `${base}-${n}.${extension}`);
  return file;
}

/**
 * Runs a dump into the backup store: it streams through a hash (of the plain dump) and, when
 * backups are encrypted, the cipher, straight into the store's writer (a file under a temporary
 * name, or a multipart upload), which publishes it only when the dump finished completely (the
 * tool exited 0 and every check passed); on any failure the write is aborted and nothing is left.
 * The backup's record is written before the dump starts (with its wrapped data key) and completed
 * after it. `cut` ends the dump at once: its output is closed (which stops the tool), the write
 * aborted and the record marked `interrupted`.
 */
async function recordedDump(
  ctx: Context,
  record: Parameters<typeof startBackupRow>[1],
  dump: (output: HashingStream) => Promise<void | Partial<BackupRow>>,
  cut?: AbortSignal,
): Promise<Backup> {
  const registry = await ctx.registry();
  const started = Date.now();
  // A killed earlier backup of this tenant left a `running` record and a partial file: not twice.
  await clearInterruptedBackups(ctx, [record.slug]);
  const store = configuredStore(ctx.config);
  let dataKey: DataKey | undefined;
  const id = encryptsBackups(ctx.config)
    ? await withNewDataKey(ctx, (key) => {
        dataKey = key;
        return startBackupRow(registry.knex, { ...record, data_key_enc: key.wrapped });
      })
    : await startBackupRow(registry.knex, record);
  const hashing = new HashingStream();
  let writer: StoreWriter | undefined;
  try {
    writer = await store.write(record.file);
    const stages: NodeJS.WritableStream[] = dataKey
      ? [new EncryptingStream(dataKey.key, dataKey.fingerprint, dataKey.wrapped), writer.input]
      : [writer.input];
    // An S3 writer holds its end back until complete(): the pipeline settles after that, so the
    // dump counts as written once the writer received its end (or the pipeline failed).
    const piped = pipeline([hashing, ...stages]);
    piped.catch(() => undefined);
    const received = writer.received;
    const written = Promise.race([piped, received]).then(() => received);
    const dumped = dump(hashing).catch((error: Error) => {
      hashing.destroy(error); // so the store side settles too
      throw error;
    });
    const settled = await untilCut(Promise.allSettled([dumped, written]), cut, () => undefined);
    if (!settled) throw new DumpCut(`cut (${errorMessage(cut!.reason)}): the dump was stopped`);
    const [tool, file] = settled;
    if (tool.status === 'rejected') throw tool.reason;
    if (file.status === 'rejected') throw file.reason;
    await writer.complete();
    await finishBackupRow(registry.knex, id, {
      ...(tool.value ?? {}),
      status: 'ok',
      bytes: hashing.bytes,
      sha256: hashing.digest(),
      duration_ms: Date.now() - started,
    });
  } catch (error) {
    // A cut dump is not a failed one: its output is closed, which stops the tool.
    if (error instanceof DumpCut) hashing.destroy(error);
    await writer?.abort(error as Error).catch(() => undefined);
    await finishBackupRow(registry.knex, id, {
      status: error instanceof DumpCut ? 'interrupted' : 'failed',
      error: errorMessage(error),
      duration_ms: Date.now() - started,
    });
    throw new OperationError(record.slug, 'backup', error);
  }
  return toBackup((await findBackupRow(registry.knex, { id }))!);
}

/**
 * Dumps one tenant's database into its backup directory (0700), recorded with its size, sha256,
 * server version and latest migration. A failed dump leaves no file and a `failed` record; one
 * cut (`cut` aborted) none and an `interrupted` record. The caller holds the tenant's lock.
 */
export async function backupTenant(ctx: Context, tenant: TenantRow, cut?: AbortSignal): Promise<Backup> {
  const server = await ctx.server(tenant.server_id);
  const driver = server.connection.driver;
  // Everything that reads the tenant's database logs in as the tenant (see tenantLogin).
  const login = tenantLogin(ctx, server, tenant);
  // A knexfile that cannot be loaded stops no backup: the migrations then go unrecorded.
  const project = await tenantProject(ctx).catch(() => undefined);
  const [serverVersion, applied] = await Promise.all([
    server.version(),
    project &&
      server.connection
        .readAppliedMigrations([login], project.table, 1, project.source().list())
        .then((read) => read.get(tenant.database_name))
        .catch(() => undefined),
  ]);
  const tampered = applied instanceof TamperedTableError ? applied : undefined;
  const record = {
    tenant_id: tenant.id,
    slug: tenant.slug,
    file: await backupFileFor(ctx, tenant.slug, driver.backupExtension),
    engine: driver.engine,
    server_version: serverVersion,
    migration: Array.isArray(applied) ? (applied.at(-1) ?? null) : null,
  };
  const backup = await recordedDump(
    ctx,
    record,
    async (output) => {
      const counts = await countedDump(server.connection, login, output, dumpToolsFrom(ctx.config));
      return { row_counts: JSON.stringify(counts) };
    },
    cut,
  );
  return tampered ? { ...backup, warning: `${tampered.message}; no migration recorded with the backup` } : backup;
}

/** The slug under which registry backups are recorded; no tenant can have it (slugs start with a letter). */
export const REGISTRY_SLUG = '_registry';

/** Backs up the registry database itself, with its own engine's tool. */
export async function backupRegistry(ctx: Context): Promise<Backup> {
  const registry = await ctx.registry();
  const record = {
    tenant_id: null,
    slug: REGISTRY_SLUG,
    file: await backupFileFor(ctx, REGISTRY_SLUG, registry.driver.backupExtension),
    engine: registry.driver.engine,
    server_version: null,
    migration: null,
  };
  return recordedDump(ctx, record, (output) =>
    registry.driver.dumpAt(registry.spec, output, dumpToolsFrom(ctx.config)),
  );
}

/** The slug under which backups of orphan databases are recorded (taken before doctor drops one). */
export const ORPHAN_SLUG = '_orphans';

/**
 * Backs up a database no tenant owns (an orphan doctor is about to drop) into
 * `<backupDir>/_orphans/<server>-<database>-<time>.<ext>`, recorded under `_orphans`: a drop that
 * was a mistake can be undone from it (restore --from).
 */
export async function backupOrphanDatabase(ctx: Context, server: ServerHandle, database: string): Promise<Backup> {
  const driver = server.connection.driver;
  const record = {
    tenant_id: null,
    slug: ORPHAN_SLUG,
    file: await backupFileFor(ctx, ORPHAN_SLUG, driver.backupExtension, `${server.row.name}-${database}`),
    engine: driver.engine,
    server_version: await server.version(),
    migration: null,
  };
  // No tenant's user to log in as: the admin dumps it (pg_dump and mysqldump run nothing of it).
  return recordedDump(ctx, record, (output) =>
    server.connection.dump(adminLogin(database), output, dumpToolsFrom(ctx.config)),
  );
}

/**
 * `busy`: another operation held the tenant's lock; `moved`: moved off the servers asked for
 * (`--server`) while the run went on; `skipped`: not started (the run was stopped) or no longer
 * one to back up (deleted meanwhile).
 */
export type BackupOutcomeKind = 'ok' | 'failed' | 'unreachable' | 'busy' | 'moved' | 'skipped';

export interface BackupOutcome {
  slug: string;
  /** The server it was backed up from (where it lives now, if it was moved since the run began). */
  server: string;
  outcome: BackupOutcomeKind;
  backup?: Backup;
  error?: string;
  /** The server it was listed on, when it was moved from there while the run went on. */
  movedFrom?: string;
}

/** A fleet backup (`backup --all`, or named tenants); its counts are fields of their own, as `--json` prints them. */
export interface BackupManyResult extends FleetRun<BackupOutcome, BackupOutcomeKind> {
  ok: boolean;
  total: number;
  succeeded: number;
  /** Failed, or left out because their server could not be reached. */
  failed: number;
  /** Tenants left out because their server could not be reached (counted in `failed` too). */
  unreachable: number;
  /** Tenants another operation was working on, not started, or moved out of the selection. */
  busy: number;
  skipped: number;
  moved: number;
  unreachableServers: UnreachableServer[];
  bytes: number;
  durationMs: number;
  tenants: BackupOutcome[];
  /** Stopped by the caller (the signal, e.g. `SIGINT`): the tenants not started are `skipped`. */
  interrupted?: string;
}

/**
 * Backs up the selected tenants, `concurrency` at a time and each server within its own limit; a
 * failure, or a server that cannot be reached, does not stop the others. Each tenant is backed up
 * holding its lock, from where its row says it lives at that moment (a list read at the start
 * goes stale while another host moves tenants); one another operation holds is `busy`.
 * `interrupt` stops starting tenants (and with `cut`, stops the dumps under way).
 */
export async function backupTenants(
  ctx: Context,
  selection: TenantSelection,
  concurrency: number,
  onProgress: (progress: FleetProgress) => void = ignoreProgress,
  interrupt?: RunInterrupt,
): Promise<BackupManyResult> {
  const started = Date.now();
  const tenants = await selectTenants(ctx, selection, 'backup');
  await assertTenantCodeTrusted(ctx, tenants, 'backup');
  const outcomes: BackupOutcome[] = new Array(tenants.length);
  const progress = progressCounter(tenants.length, onProgress, started);
  const fleet = await reachFleet(ctx, tenants);
  const settle = (index: number, outcome: BackupOutcome) => {
    outcomes[index] = outcome;
    progress(outcome.outcome === 'failed' || outcome.outcome === 'unreachable');
  };
  for (const { tenant, error } of fleet.unreachable) {
    settle(tenants.indexOf(tenant), {
      slug: tenant.slug,
      server: tenant.server_name,
      outcome: 'unreachable',
      error: error.message,
    });
  }
  const locks = await openTenantLockPool(ctx);
  try {
    await runPool(
      fleet.reachable,
      concurrency,
      async (tenant) => {
        const index = tenants.indexOf(tenant);
        settle(
          index,
          await ifTenantFree(
            locks,
            tenant.slug,
            () => backupFresh(ctx, tenant, selection, interrupt),
            (holder) => ({ slug: tenant.slug, server: tenant.server_name, outcome: 'busy', error: holder }),
          ),
        );
      },
      {
        keyOf: (tenant) => tenant.server_id,
        limitOf: serverLimit(ctx, tenants, concurrency),
        shouldStop: () => stopping(interrupt),
        onSkipped: (tenant) =>
          settle(tenants.indexOf(tenant), {
            slug: tenant.slug,
            server: tenant.server_name,
            outcome: 'skipped',
            error: `not started: stopped by ${stoppedBy(interrupt)}`,
          }),
      },
    );
  } finally {
    await locks.close();
  }
  const count = (kind: BackupOutcomeKind) => outcomes.filter((o) => o.outcome === kind).length;
  const interrupted = stoppedBy(interrupt);
  const [busy, skipped] = [count('busy'), count('skipped')];
  const failed = count('failed') + count('unreachable');
  return {
    ok: failed === 0 && busy === 0 && skipped === 0 && !interrupted,
    total: tenants.length,
    succeeded: count('ok'),
    failed,
    unreachable: count('unreachable'),
    busy,
    skipped,
    moved: count('moved'),
    unreachableServers: runOutages(ctx, fleet, outcomes),
    bytes: outcomes.reduce((sum, o) => sum + (o.backup?.bytes ?? 0), 0),
    durationMs: Date.now() - started,
    tenants: outcomes,
    ...(interrupted ? { interrupted } : {}),
  };
}

/** One tenant of a fleet backup, its lock held: from where it lives now. */
async function backupFresh(
  ctx: Context,
  listed: TenantWithServer,
  selection: TenantSelection,
  interrupt: RunInterrupt | undefined,
): Promise<BackupOutcome> {
  const fresh = await freshTenant(ctx, listed, selection);
  if ('outcome' in fresh)
    return { slug: listed.slug, server: listed.server_name, outcome: fresh.outcome, error: fresh.reason };
  const tenant = fresh.now;
  const where = {
    slug: tenant.slug,
    server: tenant.server_name,
    ...(fresh.movedFrom ? { movedFrom: fresh.movedFrom } : {}),
  };
  try {
    return { ...where, outcome: 'ok', backup: await backupTenant(ctx, tenant, interrupt?.cut) };
  } catch (error) {
    const cause = (error as Error).cause ?? error;
    // Whatever the dump's own error says (a rollback on a cut connection, a dump gone silent),
    // the server is asked at once: one that no longer answers is lost for the rest of the run
    // (its other tenants do not each wait for it again), and this tenant failed for that reason.
    const lost = await ctx.unansweredServer(tenant.server_id);
    return lost || isOutage(cause)
      ? { ...where, outcome: 'unreachable', error: outageMessage(tenant, lost ?? cause) }
      : { ...where, outcome: 'failed', error: errorMessage(cause) };
  }
}
