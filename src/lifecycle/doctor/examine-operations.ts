/** Doctor's checks on cut-short work: interrupted creates, deletes, suspends, moves; killed backups; failed creates. */
import { existsSync } from 'node:fs';
import { configuredStore } from '../../backup-store/index.js';
import { errorMessage } from '../../core/errors.js';
import { listBackupRows } from '../../registry/backups-repo.js';
import type { Context } from '../../context/context.js';
import type { TenantRow } from '../../registry/tenants-repo.js';
import { REGISTRY_SLUG } from '../backups/backup-tenants.js';
import { clearInterruptedBackup, findInterruptedBackups, partialFileFor } from '../backups/interrupted-backups.js';
import { WITH_DATABASE } from '../shared/select-tenants.js';
import { tenantLockName } from '../shared/tenant-lock.js';
import { isMoving } from '../shared/tenant-moving.js';
import { interruptedMoves, replicationLeftovers } from './doctor-moves.js';
import type { FleetView } from './fleet-view.js';
import type { FindingList, NewFinding } from './findings.js';

export async function examineOperations(ctx: Context, fleet: FleetView, list: FindingList): Promise<void> {
  // Operations that were interrupted: their tenant lock is free, yet the row says work is under way.
  for (const t of fleet.rows.filter(
    (r) =>
      r.status === 'provisioning' ||
      r.status === 'adopting' ||
      r.status === 'deleting' ||
      (r.step !== null && WITH_DATABASE.includes(r.status) && !isMoving(r)),
  )) {
    const lock = await fleet.registry.tryLock(tenantLockName(t.slug), 0);
    if (!lock) continue; // in progress right now
    await lock.release();
    list.add(interrupted(t));
  }
  // Moves, before their switch or after it (a move killed while it retired the source leaves the
  // tenant's row as if done): their record says running, and no tenantctl holds the tenant.
  for (const finding of await interruptedMoves(ctx, fleet.servers)) list.add(finding);
  await replicationLeftovers(ctx, fleet, list);
  // Backups killed mid-dump: a `running` record whose process is gone, and maybe a partial file.
  for (const b of await findInterruptedBackups(ctx)) {
    list.add(
      {
        kind: 'interrupted_backup',
        tenant: b.slug === REGISTRY_SLUG ? null : b.slug,
        server: null,
        message: `backup #${b.id} started ${b.started_at} was interrupted; its record says running${existsSync(partialFileFor(b.file)) ? ` and ${partialFileFor(b.file)} is left` : ''}`,
        autoFix: true,
      },
      () => clearInterruptedBackup(ctx, b),
    );
  }
  await examineLeftoverUploads(ctx, list);
  for (const t of fleet.rows.filter((r) => r.status === 'failed')) {
    list.add({
      kind: 'failed_create',
      tenant: t.slug,
      server: null,
      message: `create failed and was undone: ${t.last_error ?? 'no error recorded'}`,
    });
  }
}

/** The finding for a tenant whose operation was cut short, by what its row says was under way. */
function interrupted(t: TenantRow): NewFinding {
  if (t.status === 'adopting') {
    // Not repaired here: `adopt <slug>` run again resumes it (never a create, which would drop the database).
    return {
      kind: 'interrupted',
      operation: 'adopt',
      tenant: t.slug,
      server: null,
      message: `adopt of database "${t.database_name}" was interrupted at step "${t.step ?? 'start'}"; run: tenantctl adopt ${t.slug}`,
    };
  }
  if (t.status === 'provisioning') {
    return {
      kind: 'interrupted',
      operation: 'create',
      tenant: t.slug,
      server: null,
      message: `create was interrupted at step "${t.step ?? 'start'}"`,
      autoFix: true,
    };
  }
  if (t.status === 'deleting') {
    return {
      kind: 'interrupted',
      operation: 'delete',
      tenant: t.slug,
      server: null,
      message: `delete was interrupted at step "${t.step ?? 'start'}"`,
      autoFix: true,
    };
  }
  if (t.step === 'suspend')
    return {
      kind: 'interrupted',
      operation: 'suspend',
      tenant: t.slug,
      server: null,
      message: 'suspend was interrupted',
      autoFix: true,
    };
  if (t.step === 'reactivate')
    return {
      kind: 'interrupted',
      operation: 'reactivate',
      tenant: t.slug,
      server: null,
      message: 'reactivate was interrupted',
    };
  return {
    kind: 'interrupted',
    operation: t.step ?? 'unknown',
    tenant: t.slug,
    server: null,
    message: `${t.step} was interrupted; the tenant stays suspended`,
  };
}

/**
 * Multipart uploads in the S3 store that no running backup is writing: left by a tenantctl killed
 * mid-upload (S3 keeps, and bills, their parts until they are aborted). `--fix` aborts them.
 */
async function examineLeftoverUploads(ctx: Context, list: FindingList): Promise<void> {
  const store = configuredStore(ctx.config);
  if (store.kind !== 's3') return;
  const registry = await ctx.registry();
  const gone = new Set((await findInterruptedBackups(ctx)).map((b) => b.id));
  const running = await listBackupRows(registry.knex, { status: 'running' });
  const writing = new Set(running.filter((b) => !gone.has(b.id)).map((b) => b.file));
  let uploads;
  try {
    uploads = await store.leftoverUploads();
  } catch (error) {
    list.add({
      kind: 'backup_store',
      target: { type: 'store', location: store.root },
      tenant: null,
      server: null,
      message: `cannot list the uploads in ${store.root}: ${errorMessage(error)}`,
    });
    return;
  }
  for (const upload of uploads.filter((u) => !writing.has(u.location))) {
    list.add(
      {
        kind: 'leftover_upload',
        target: { type: 'store', location: upload.location },
        tenant: null,
        server: null,
        message: `an unfinished upload of ${upload.location}${upload.startedAt ? ` (started ${upload.startedAt})` : ''} is left in the store: no running backup writes it`,
        autoFix: true,
      },
      () => store.abortUpload(upload),
    );
  }
}
