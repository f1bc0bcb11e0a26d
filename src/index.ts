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
} from './lifecycle/tenants/create-tenant.js';
export { updateTenant, type UpdateInput, type UpdateResult } from './lifecycle/tenants/update-tenant.js';
export { suspendTenant, reactivateTenant, type AccessChangeResult } from './lifecycle/tenants/suspend-tenant.js';
export { deleteTenant, type DeleteOptions, type DeleteResult } from './lifecycle/tenants/delete-tenant.js';
export { listTenants, showTenant, type TenantDetail } from './lifecycle/tenants/read-tenants.js';
export {
  backupTenants,
  type Backup,
  type BackupManyResult,
  type BackupOutcome,
} from './lifecycle/backups/backup-tenants.js';
export { listBackups } from './lifecycle/backups/list-backups.js';
export { verifyBackups, type VerifyOptions, type VerifyResult } from './lifecycle/backups/verify-backups.js';
export { restoreTenant, type RestoreInput, type RestoreResult } from './lifecycle/backups/restore-tenant.js';
export {
  migrateFleet,
  type MigrateFleetOptions,
  type MigrateFleetResult,
  type TenantMigrationOutcome,
} from './lifecycle/migrations/migrate-fleet.js';
export { migrationStatus, type MigrationStatusResult } from './lifecycle/migrations/migration-status.js';
export { tenantStats, type StatsResult } from './lifecycle/tenants/tenant-stats.js';
export { runDoctor, type DoctorOptions, type DoctorResult, type Finding } from './lifecycle/doctor/doctor.js';
export { initRegistry, type InitResult } from './lifecycle/registry/init-registry.js';
export { readAuditLog, type AuditRecord } from './lifecycle/registry/audit-log.js';
export type { TenantSelection } from './lifecycle/shared/select-tenants.js';
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
