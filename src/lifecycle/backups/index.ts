/**
 * Backups: taking them (one tenant, the fleet, the registry, an orphan before it is dropped),
 * listing, verifying, pruning by retention, restoring; finding and clearing interrupted ones.
 */
export {
  backupTenant,
  backupTenants,
  backupOrphanDatabase,
  REGISTRY_SLUG,
  type Backup,
  type BackupManyResult,
  type BackupOutcome,
} from './backup-tenants.js';
export { runBackups, type RunBackupsInput, type RunBackupsResult } from './run-backups.js';
export { listBackups } from './list-backups.js';
export { verifyBackups, type VerifyOptions, type VerifyResult } from './verify-backups.js';
export { restoreTenant, type RestoreInput, type RestoreResult } from './restore-tenant.js';
export { findInterruptedBackups, clearInterruptedBackup, partialFileFor } from './interrupted-backups.js';
export {
  eraseDeletedTenantBackups,
  type ErasureResult,
  type ErasedTenantBackups,
  type ErasureReason,
} from './erase-backups.js';
export { pruneBackups, type PruneResult, type RetentionPolicy } from './prune-backups.js';
export { pruneFleetBackups, type PruneFleetInput, type PruneFleetResult } from './prune-fleet.js';
export { decryptBackup, type DecryptBackupInput, type DecryptBackupResult } from './decrypt-backup.js';
