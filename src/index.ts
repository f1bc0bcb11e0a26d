/**
 * tenantctl as a library: what `import … from 'tenantctl'` gives an application. The CLI is a
 * user of the same operations (src/cli/commands/* call these functions and render their results).
 */

// Applications: tenants' databases through the registry, under one connection budget.
export { openFleet, Fleet, type FleetOptions, type FleetTenant, type FleetStats } from './api/open-fleet.js';
export {
  TenantNotFoundError,
  TenantSuspendedError,
  TenantUnavailableError,
  ConnectionBudgetError,
} from './api/errors.js';

// Operators' tooling: the lifecycle operations, returning data, with a context from a plain config.
export { createContext, withTenantctl, type TenantctlConfig, type ContextOptions } from './api/context.js';
export { AppContext } from './context/app-context.js';
export type { Config } from './config/config-keys.js';
export {
  createTenant,
  type CreateTenantInput,
  type CreateTenantResult,
  type CreateProgress,
} from './lifecycle/create-tenant.js';
export { updateTenant, type UpdateInput, type UpdateResult } from './lifecycle/update-tenant.js';
export { suspendTenant, reactivateTenant, type AccessChangeResult } from './lifecycle/suspend-tenant.js';
export { deleteTenant, type DeleteOptions, type DeleteResult } from './lifecycle/delete-tenant.js';
export { listTenants, showTenant, type TenantDetail } from './lifecycle/read-tenants.js';
export { backupTenants, type Backup, type BackupManyResult, type BackupOutcome } from './lifecycle/backup-tenants.js';
export { listBackups } from './lifecycle/list-backups.js';
export { verifyBackups, type VerifyOptions, type VerifyResult } from './lifecycle/verify-backups.js';
export { restoreTenant, type RestoreInput, type RestoreResult } from './lifecycle/restore-tenant.js';
export {
  migrateFleet,
  type MigrateFleetOptions,
  type MigrateFleetResult,
  type TenantMigrationOutcome,
} from './lifecycle/migrate-fleet.js';
export { migrationStatus, type MigrationStatusResult } from './lifecycle/migration-status.js';
export { tenantStats, type StatsResult } from './lifecycle/tenant-stats.js';
export { runDoctor, type DoctorOptions, type DoctorResult, type Finding } from './lifecycle/doctor.js';
export { initRegistry, type InitResult } from './lifecycle/init-registry.js';
export { readAuditLog, type AuditRecord } from './lifecycle/audit-log.js';
export type { TenantSelection } from './lifecycle/select-tenants.js';
export type { RunInterrupt } from './core/run-interrupt.js';
export type { Tenant, TenantStatus, TenantFilter } from './registry/tenants-repo.js';

// Errors every operation throws, with the exit code the CLI maps them to.
export {
  TenantctlError,
  UsageError,
  NotFoundError,
  ConflictError,
  UnreachableError,
  LockedError,
  OperationError,
  RegistryKeyError,
  ServerUnreachableError,
  ServerIdentityError,
  ExitCode,
} from './core/errors.js';
